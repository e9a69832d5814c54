package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the figures were measured.
type machine struct {
	CPU, Cores, RAM, Kernel, OS, WebKitGTK, Go, Display string
	NumCPU                                              int
}

func machineInfo() machine {
	m := machine{
		CPU:       firstField("/proc/cpuinfo", "model name", ":"),
		Cores:     strconv.Itoa(runtime.NumCPU()) + " logical CPUs",
		Kernel:    strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		OS:        strings.Trim(firstField("/etc/os-release", "PRETTY_NAME", "="), `"`),
		WebKitGTK: "unknown",
		Go:        runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		Display:   os.Getenv("DISPLAY"),
		NumCPU:    runtime.NumCPU(),
	}
	if kb, err := strconv.ParseInt(strings.Fields(firstField("/proc/meminfo", "MemTotal", ":") + " 0")[0], 10, 64); err == nil && kb > 0 {
		m.RAM = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if b, err := exec.Command("pkg-config", "--modversion", "webkit2gtk-4.1").Output(); err == nil {
		m.WebKitGTK = strings.TrimSpace(string(b)) + " (webkit2gtk-4.1)"
	}
	if m.Display != "" && os.Getenv("LINKDESK_IN_DESKTOP") == "1" {
		m.Display += " (Xvfb 1280x800x24, software rendering, from build/scripts/with-desktop.sh)"
	}
	for _, p := range []*string{&m.CPU, &m.Kernel, &m.OS, &m.RAM} {
		if *p == "" {
			*p = "unknown"
		}
	}
	return m
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// firstField returns the value of the first "key<sep>value" line of file p.
func firstField(p, key, sep string) string {
	for _, line := range strings.Split(readFile(p), "\n") {
		k, v, ok := strings.Cut(line, sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
