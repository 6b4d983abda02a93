package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux ABI).
const clockTick = 10 * time.Millisecond

// cpuTimes is CPU time spent in user space and in the kernel.
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) total() time.Duration { return c.user + c.sys }

func (c cpuTimes) add(o cpuTimes) cpuTimes { return cpuTimes{c.user + o.user, c.sys + o.sys} }

func (c cpuTimes) sub(o cpuTimes) cpuTimes { return cpuTimes{c.user - o.user, c.sys - o.sys} }

// per divides c by n (requests).
func (c cpuTimes) per(n float64) cpuTimes {
	return cpuTimes{time.Duration(float64(c.user) / n), time.Duration(float64(c.sys) / n)}
}

// processCPU is the CPU time, user and system, that pid and its direct
// children (nginx's workers) have used so far, read from /proc. It fails
// where there is no /proc.
func processCPU(pid int) (cpuTimes, error) {
	own, _, err := readStat(pid)
	if err != nil {
		return cpuTimes{}, err
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return cpuTimes{}, err
	}
	for _, dir := range dirs {
		child, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || child == pid {
			continue
		}
		if cpu, ppid, err := readStat(child); err == nil && ppid == pid {
			own = own.add(cpu)
		}
	}
	return own, nil
}

// readStat returns the CPU time (utime and stime) and parent of pid.
func readStat(pid int) (cpu cpuTimes, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, 0, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing one, at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return cpuTimes{}, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return cpuTimes{}, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ppid, _ = strconv.Atoi(string(f[1]))    // field 4
	utime, _ := strconv.Atoi(string(f[11])) // field 14
	stime, _ := strconv.Atoi(string(f[12])) // field 15
	return cpuTimes{time.Duration(utime) * clockTick, time.Duration(stime) * clockTick}, ppid, nil
}
