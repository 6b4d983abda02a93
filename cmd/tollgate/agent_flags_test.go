package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestObservabilityFlags(t *testing.T) {
	c, _, _, err := parseAgentFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessLog != "stdout" || c.AccessLogSample != 1 || c.TraceSample != 1 {
		t.Errorf("defaults: access log %q sample %v, trace sample %v", c.AccessLog, c.AccessLogSample, c.TraceSample)
	}
	c, _, _, err = parseAgentFlags([]string{"--access-log", "/var/log/tollgate.log", "--access-log-sample", "0.1",
		"--trace-sample", "0"}, io.Discard)
	if err != nil || c.AccessLog != "/var/log/tollgate.log" || c.AccessLogSample != 0.1 || c.TraceSample != 0 {
		t.Errorf("set: %+v, %v", c, err)
	}
	for _, args := range [][]string{
		{"--access-log-sample", "1.5"},
		{"--access-log-sample", "-0.1"},
		{"--trace-sample", "NaN"},
		{"--access-log", ""},
	} {
		if _, _, _, err := parseAgentFlags(args, io.Discard); err == nil {
			t.Errorf("%s accepted", strings.Join(args, " "))
		}
	}
}

// TestEngineFlags: --event-loops and --io-uring reach the agent's config;
// a negative loop count is refused.
func TestEngineFlags(t *testing.T) {
	c, _, _, err := parseAgentFlags(nil, io.Discard)
	if err != nil || c.EventLoops != 0 || c.NoIOURing {
		t.Fatalf("defaults: loops %d, no io_uring %v, %v", c.EventLoops, c.NoIOURing, err)
	}
	c, _, _, err = parseAgentFlags([]string{"--event-loops", "3", "--io-uring=false"}, io.Discard)
	if err != nil || c.EventLoops != 3 || !c.NoIOURing {
		t.Errorf("set: loops %d, no io_uring %v, %v", c.EventLoops, c.NoIOURing, err)
	}
	if _, _, _, err := parseAgentFlags([]string{"--event-loops", "-1"}, io.Discard); err == nil {
		t.Errorf("--event-loops -1 accepted")
	}
}

// TestUpstreamPollFlag: --upstream-poll reaches the agent's config, 0
// as "never" (negative in dataplane.Options); values out of range are
// refused.
func TestUpstreamPollFlag(t *testing.T) {
	for _, tt := range []struct {
		arg  string
		want time.Duration
	}{{"", 200 * time.Microsecond}, {"50us", 50 * time.Microsecond}, {"0", -1}} {
		var args []string
		if tt.arg != "" {
			args = []string{"--upstream-poll", tt.arg}
		}
		c, _, _, err := parseAgentFlags(args, io.Discard)
		if err != nil || c.UpstreamPoll != tt.want {
			t.Errorf("--upstream-poll %q: %v, %v; want %v", tt.arg, c.UpstreamPoll, err, tt.want)
		}
	}
	for _, bad := range []string{"-1us", "11ms"} {
		if _, _, _, err := parseAgentFlags([]string{"--upstream-poll", bad}, io.Discard); err == nil {
			t.Errorf("--upstream-poll %s accepted", bad)
		}
	}
}

// TestLimitFlags: --max-header-bytes and --max-body-bytes reach the
// agent's config; values that would refuse every request are refused.
func TestLimitFlags(t *testing.T) {
	c, _, _, err := parseAgentFlags(nil, io.Discard)
	if err != nil || c.MaxHeaderBytes != 64<<10 || c.MaxRequestBodyBytes != 0 {
		t.Fatalf("defaults: header %d, body %d, %v", c.MaxHeaderBytes, c.MaxRequestBodyBytes, err)
	}
	c, _, _, err = parseAgentFlags([]string{"--max-header-bytes", "8192", "--max-body-bytes", "1048576"}, io.Discard)
	if err != nil || c.MaxHeaderBytes != 8192 || c.MaxRequestBodyBytes != 1<<20 {
		t.Errorf("set: header %d, body %d, %v", c.MaxHeaderBytes, c.MaxRequestBodyBytes, err)
	}
	for _, args := range [][]string{{"--max-header-bytes", "100"}, {"--max-header-bytes", "1048577"},
		{"--max-header-bytes", "9223372036854775807"}, {"--max-body-bytes", "-1"}} {
		if _, _, _, err := parseAgentFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
