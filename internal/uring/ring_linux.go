//go:build linux

// Package uring is a minimal io_uring ring for one goroutine (on any
// thread, one call at a time): it queues socket sends and receives and submits them in one
// system call. It exists because a system call is expensive on the bench
// machine (about 1 µs for getppid: the kernel isolates its page tables
// from user space, without PCID), so that batching the sends and receives
// of many requests into one io_uring_enter saves most of that cost.
//
// Only non-blocking operations are queued (MSG_DONTWAIT): each completes,
// or fails with EAGAIN, within the io_uring_enter that submits it, so a
// buffer handed to the ring is free again when Submit returns.
package uring

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// System call numbers and constants of io_uring (linux/io_uring.h).
const (
	sysSetup = 425
	sysEnter = 426

	offSQRing = 0
	offSQEs   = 0x10000000

	featSingleMmap = 1 << 0

	setupCoopTaskrun = 1 << 8

	enterGetEvents = 1 << 0

	opSend = 26
	opRecv = 27
)

// ErrUnsupported is returned by New when the kernel has no io_uring, or
// refuses it (a seccomp profile, kernel.io_uring_disabled).
var ErrUnsupported = errors.New("io_uring is not available")

type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqOffsets
	cqOff                                                                  cqOffsets
}

// sqe is a submission queue entry.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFD    int32
	addr3       uint64
	pad         uint64
}

// cqe is a completion queue entry.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Ring is an io_uring instance. It is not safe for concurrent use.
type Ring struct {
	fd      int
	sqRing  []byte
	sqes    []byte
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray unsafe.Pointer
	sqe0    unsafe.Pointer
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    unsafe.Pointer
	entries uint32
	queued  uint32 // entries written since the last Submit
	keep    [][]byte
}

// New sets up a ring of the given number of entries (a power of two).
// The ring is not tied to a thread (no IORING_SETUP_SINGLE_ISSUER): its
// goroutine may move between threads, though only one may use it at a
// time.
func New(entries uint32) (*Ring, error) {
	var p params
	p.flags = setupCoopTaskrun
	fd, _, errno := syscall.RawSyscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno == syscall.EINVAL { // an older kernel without the flags
		p = params{}
		fd, _, errno = syscall.RawSyscall(sysSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	}
	if errno != 0 {
		return nil, fmt.Errorf("%w: io_uring_setup: %w", ErrUnsupported, errno)
	}
	r := &Ring{fd: int(fd), entries: p.sqEntries}
	if p.features&featSingleMmap == 0 {
		r.Close()
		return nil, fmt.Errorf("%w: the kernel lacks IORING_FEAT_SINGLE_MMAP", ErrUnsupported)
	}
	size := max(p.sqOff.array+p.sqEntries*4, p.cqOff.cqes+p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	var err error
	if r.sqRing, err = syscall.Mmap(r.fd, offSQRing, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		r.Close()
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	if r.sqes, err = syscall.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		r.Close()
		return nil, fmt.Errorf("mmap io_uring entries: %w", err)
	}
	base := unsafe.Pointer(&r.sqRing[0])
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	r.sqArray = unsafe.Add(base, p.sqOff.array)
	r.sqe0 = unsafe.Pointer(&r.sqes[0])
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.cqes = unsafe.Add(base, p.cqOff.cqes)
	if err := r.checkNonBlocking(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// checkNonBlocking makes sure that the kernel completes a MSG_DONTWAIT
// receive with nothing to read, and a MSG_DONTWAIT send to a full socket,
// at once (EAGAIN, or a short send) instead of waiting: Submit relies on
// it, as it waits for every operation it submits.
func (r *Ring) checkNonBlocking() error {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("io_uring check: %w", err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	fill := make([]byte, 64<<10)
	for {
		if _, err := syscall.Write(fds[1], fill); err != nil {
			break
		}
	}
	var b [1]byte
	r.Recv(fds[1], b[:], 0) // nothing was written to fds[1]
	r.Send(fds[1], fill, 1) // its peer's buffer is full
	defer r.reset()
	if _, _, errno := syscall.RawSyscall6(sysEnter, uintptr(r.fd), 2, 0, 0, 0, 0); errno != 0 {
		return fmt.Errorf("%w: io_uring_enter: %w", ErrUnsupported, errno)
	}
	comps := r.reap(nil)
	ok := len(comps) == 2
	for _, c := range comps {
		switch {
		case c.Res == -int32(syscall.EAGAIN):
		case c.UserData == 1 && c.Res >= 0 && c.Res < int32(len(fill)):
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%w: non-blocking operations did not complete at once (%v)", ErrUnsupported, comps)
	}
	return nil
}

// Close releases the ring.
func (r *Ring) Close() {
	if r.sqes != nil {
		_ = syscall.Munmap(r.sqes)
	}
	if r.sqRing != nil {
		_ = syscall.Munmap(r.sqRing)
	}
	syscall.Close(r.fd)
}

// Space reports how many more operations can be queued before Submit.
func (r *Ring) Space() int { return int(r.entries - r.queued) }

// Send queues a non-blocking send of b on fd; its result reaches Submit's
// callback with userData. b must not change until Submit returns.
func (r *Ring) Send(fd int, b []byte, userData uint64) {
	r.queue(opSend, fd, b, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, userData)
}

// Recv queues a non-blocking receive into b from fd.
func (r *Ring) Recv(fd int, b []byte, userData uint64) {
	r.queue(opRecv, fd, b, syscall.MSG_DONTWAIT, userData)
}

func (r *Ring) queue(op uint8, fd int, b []byte, flags uint32, userData uint64) {
	tail := atomic.LoadUint32(r.sqTail)
	i := tail & r.sqMask
	e := (*sqe)(unsafe.Add(r.sqe0, uintptr(i)*unsafe.Sizeof(sqe{})))
	*e = sqe{opcode: op, fd: int32(fd), len: uint32(len(b)), opFlags: flags, userData: userData}
	if len(b) > 0 {
		e.addr = uint64(uintptr(unsafe.Pointer(&b[0])))
	}
	*(*uint32)(unsafe.Add(r.sqArray, uintptr(i)*4)) = i
	atomic.StoreUint32(r.sqTail, tail+1)
	r.keep = append(r.keep, b)
	r.queued++
}

// Completion is the result of one queued operation: its user data, and
// the byte count or a negated errno.
type Completion struct {
	UserData uint64
	Res      int32
}

// Submit submits what was queued and appends each operation's completion
// to dst. Every operation submitted completes before Submit returns, so
// the buffers it was given are free again.
//
// On an error, the operations whose completions are not in dst were not
// submitted, and may still sit in the ring: it must not be used again,
// only closed.
func (r *Ring) Submit(dst []Completion) ([]Completion, error) {
	defer r.reset()
	if r.queued == 0 {
		return dst, nil
	}
	start := len(dst)
	submitted, err := r.submitAll(r.queued)
	for {
		dst = r.reap(dst)
		done := uint32(len(dst) - start)
		if err != nil || done >= submitted {
			return dst, err
		}
		_, _, errno := syscall.RawSyscall6(sysEnter, uintptr(r.fd), 0, uintptr(submitted-done), enterGetEvents, 0, 0)
		if errno != 0 && errno != syscall.EINTR {
			err = fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// submitAll hands want queued operations to the kernel, waiting for as
// many completions (each completes within the call), and returns how many
// it took.
func (r *Ring) submitAll(want uint32) (uint32, error) {
	submitted := uint32(0)
	for submitted < want {
		n := uintptr(want - submitted)
		m, _, errno := syscall.RawSyscall6(sysEnter, uintptr(r.fd), n, n, enterGetEvents, 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return submitted, fmt.Errorf("io_uring_enter: %w", errno)
		case m == 0:
			return submitted, errors.New("io_uring_enter took no operation")
		}
		submitted += uint32(m)
	}
	return submitted, nil
}

// reset forgets the buffers of the last submission.
func (r *Ring) reset() {
	clear(r.keep)
	r.keep, r.queued = r.keep[:0], 0
}

// reap appends the completions waiting to dst and consumes them.
func (r *Ring) reap(dst []Completion) []Completion {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		c := (*cqe)(unsafe.Add(r.cqes, uintptr(head&r.cqMask)*unsafe.Sizeof(cqe{})))
		dst = append(dst, Completion{c.userData, c.res})
	}
	atomic.StoreUint32(r.cqHead, head)
	return dst
}
