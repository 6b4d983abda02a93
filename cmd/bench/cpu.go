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

// processCPU is the CPU time, user and system, that pid and its direct
// children (nginx's workers) have used so far, read from /proc. It fails
// where there is no /proc.
func processCPU(pid int) (time.Duration, error) {
	own, _, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	for _, dir := range dirs {
		child, err := strconv.Atoi(filepath.Base(dir))
		if err != nil || child == pid {
			continue
		}
		if cpu, ppid, err := readStat(child); err == nil && ppid == pid {
			own += cpu
		}
	}
	return own, nil
}

// readStat returns the CPU time (utime + stime) and parent of pid.
func readStat(pid int) (cpu time.Duration, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing one, at field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ppid, _ = strconv.Atoi(string(f[1]))    // field 4
	utime, _ := strconv.Atoi(string(f[11])) // field 14
	stime, _ := strconv.Atoi(string(f[12])) // field 15
	return time.Duration(utime+stime) * clockTick, ppid, nil
}
