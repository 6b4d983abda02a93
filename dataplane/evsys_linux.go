//go:build linux

package dataplane

import (
	"syscall"
	"unsafe"
)

// The loops make their non-blocking reads and writes, and their epoll
// waits that do not block, as raw system calls: without the runtime's
// entersyscall/exitsyscall around them. Those calls never block, so the
// loop keeps its P for the few microseconds they take; going through
// syscall.Syscall made the runtime's monitor thread wake every 20 µs to
// look for Ps stuck in system calls (strace: about one nanosleep per
// request). Only the blocking epoll_wait goes through the scheduler.

// rawRead is syscall.Read for a non-blocking socket, made as recvfrom,
// which goes to the socket without the file layer's read path (as nginx
// does: perf showed vfs_read and fdget_pos in the kernel's share).
func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// rawWrite is syscall.Write for a non-blocking socket, made as sendto
// (see rawRead).
func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// pollNow returns the events ready at once, without blocking.
func pollNow(epfd int, events []syscall.EpollEvent) int {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])),
		uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(n)
}

// inputWaiting reports whether a socket has bytes to read, without
// reading them (a non-blocking MSG_PEEK).
func inputWaiting(fd int) bool {
	var b [1]byte
	n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno == 0 && n > 0
}

// idleOpen reports whether an idle socket is open with nothing to read:
// a non-blocking MSG_PEEK would block.
func idleOpen(fd int) bool {
	var b [1]byte
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno == syscall.EAGAIN
}
