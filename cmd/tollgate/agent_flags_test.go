package main

import (
	"io"
	"strings"
	"testing"
)

func TestObservabilityFlags(t *testing.T) {
	c, _, err := parseAgentFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessLog != "stdout" || c.AccessLogSample != 1 || c.TraceSample != 1 {
		t.Errorf("defaults: access log %q sample %v, trace sample %v", c.AccessLog, c.AccessLogSample, c.TraceSample)
	}
	c, _, err = parseAgentFlags([]string{"--access-log", "/var/log/tollgate.log", "--access-log-sample", "0.1",
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
		if _, _, err := parseAgentFlags(args, io.Discard); err == nil {
			t.Errorf("%s accepted", strings.Join(args, " "))
		}
	}
}

func TestGCPercentFlag(t *testing.T) {
	t.Setenv("GOGC", "")
	if _, p, err := parseAgentFlags(nil, io.Discard); err != nil || p.gcPercent != defaultGCPercent {
		t.Errorf("default without GOGC: %d, %v; want %d", p.gcPercent, err, defaultGCPercent)
	}
	if _, p, err := parseAgentFlags([]string{"--gc-percent", "150"}, io.Discard); err != nil || p.gcPercent != 150 {
		t.Errorf("--gc-percent 150: %d, %v", p.gcPercent, err)
	}
	t.Setenv("GOGC", "200")
	if _, p, err := parseAgentFlags(nil, io.Discard); err != nil || p.gcPercent != -1 {
		t.Errorf("default with GOGC set: %d, %v; want -1 (the environment's)", p.gcPercent, err)
	}
	for _, v := range []string{"0", "-2"} {
		if _, _, err := parseAgentFlags([]string{"--gc-percent", v}, io.Discard); err == nil {
			t.Errorf("--gc-percent %s accepted", v)
		}
	}
}
