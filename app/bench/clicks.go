package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// clickRun is what one run of linkui (app/bench/linkui) measured: clicks on
// Link bank account → Plaid Link usable, as linkdesk's page measured them.
type clickRun struct {
	Prefetch      bool          `json:"prefetch"`
	WorkflowDelay time.Duration `json:"workflow_delay"`
	WarmUp        clickLink     `json:"warm_up"`
	Links         []clickLink   `json:"links"`
	Took          time.Duration `json:"-"`
}

type clickLink struct {
	Customer        string             `json:"customer"`
	ClickToUsableMS float64            `json:"click_to_usable_ms"`
	Phases          map[string]float64 `json:"phases_ms"`
	Prepared        bool               `json:"prepared"`
	ReadyAfterMS    float64            `json:"ready_after_ms"`
	Workflows       int                `json:"workflows"`
}

// measureClicks runs linkui (bin) with env: one warm-up link and links timed
// ones, with the simulator's workflow delay at delay. Its progress lines go
// to the benchmark's stderr.
func measureClicks(ctx context.Context, bin string, env []string, links int, delay time.Duration) (clickRun, error) {
	var r clickRun
	began := time.Now()
	cmd := exec.CommandContext(ctx, bin, "-links", fmt.Sprint(links), "-delay", delay.String())
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	var tail []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "linkui: ") {
			progress("  " + strings.TrimPrefix(l, "linkui: "))
		}
		tail = append(tail, l)
		if len(tail) > 20 {
			tail = tail[1:]
		}
	}
	io.Copy(io.Discard, stderr)
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("linkui: %v; its last lines:\n%s", err, strings.Join(tail, "\n"))
	}
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return r, fmt.Errorf("linkui's answer: %v: %q", err, out.String())
	}
	if len(r.Links) != links {
		return r, fmt.Errorf("linkui timed %d links, want %d", len(r.Links), links)
	}
	r.Took = time.Since(began)
	return r, nil
}

func (r clickRun) usable() []time.Duration {
	var out []time.Duration
	for _, l := range r.Links {
		out = append(out, msDur(l.ClickToUsableMS))
	}
	return out
}

func msDur(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// phaseMedians says where the time from the click went: the median of each
// step's time from the click, in the order they happen.
func (r clickRun) phaseMedians() string {
	order := []struct{ key, label string }{
		{"attempt", "the attempt with its link token reached the page"},
		{"created", "Plaid.create"},
		{"loaded", "Link loaded (onLoad)"},
		{"opened", "open()"},
		{"open_event", "Link's OPEN event"},
	}
	var parts []string
	for _, o := range order {
		var ds []time.Duration
		for _, l := range r.Links {
			if v, ok := l.Phases[o.key]; ok {
				ds = append(ds, msDur(v))
			}
		}
		if len(ds) == len(r.Links) && len(ds) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", o.label, ms(medianDur(ds))))
		}
	}
	parts = append(parts, fmt.Sprintf("first pane rendered and accepting input %.0f", ms(medianDur(r.usable()))))
	return strings.Join(parts, " → ")
}

func (r clickRun) list() string {
	var s []string
	for _, d := range r.usable() {
		s = append(s, fmt.Sprintf("%.0f", ms(d)))
	}
	return strings.Join(s, " ")
}

// clickWorkflows counts the workflows the timed clicks created.
func (r clickRun) clickWorkflows() int {
	n := 0
	for _, l := range r.Links {
		n += l.Workflows
	}
	return n
}

func (r clickRun) allPrepared() bool {
	for _, l := range r.Links {
		if !l.Prepared {
			return false
		}
	}
	return len(r.Links) > 0
}

func (r clickRun) readyAfter() time.Duration {
	var ds []time.Duration
	for _, l := range r.Links {
		ds = append(ds, msDur(l.ReadyAfterMS))
	}
	return medianDur(ds)
}

// binaryBytes says where the stripped binary's bytes go: its ELF sections,
// and the code and data of each group of packages (symbol sizes of an
// unstripped build of the same source; Go's function table, .gopclntab,
// grows with the code).
type binaryBytes struct {
	Sections []namedSize
	Groups   []namedSize
	Top      []namedSize // the largest packages
	err      error
}

type namedSize struct {
	Name  string
	Bytes int64
}

func sizeList(ns []namedSize) string {
	var s []string
	for _, n := range ns {
		s = append(s, fmt.Sprintf("%s %.2f", n.Name, float64(n.Bytes)/1e6))
	}
	return strings.Join(s, ", ")
}

// measureBinary builds an unstripped linkdesk (tmp/linkdesk-symbols) and
// sums its symbol sizes by package, and reads the stripped binary's
// sections.
func measureBinary(ctx context.Context, root, stripped, tmp string) binaryBytes {
	var b binaryBytes
	secs, err := elfSections(stripped)
	if err != nil {
		b.err = err
		return b
	}
	b.Sections = secs
	syms := tmp + "/linkdesk-symbols"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", syms, ".")
	cmd.Dir = root
	cmd.Env = buildEnv(root)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.err = fmt.Errorf("go build (with symbols): %v: %s", err, out)
		return b
	}
	f, err := elf.Open(syms)
	if err != nil {
		b.err = err
		return b
	}
	defer f.Close()
	symbols, err := f.Symbols()
	if err != nil {
		b.err = err
		return b
	}
	groups := map[string]int64{}
	pkgs := map[string]int64{}
	for _, sym := range symbols {
		// Only what the file holds: code and data, not BSS (allocated
		// when the program starts).
		if int(sym.Section) <= 0 || int(sym.Section) >= len(f.Sections) || f.Sections[sym.Section].Type != elf.SHT_PROGBITS || sym.Size == 0 {
			continue
		}
		pkg := symbolPackage(sym.Name)
		pkgs[pkg] += int64(sym.Size)
		groups[packageGroup(pkg)] += int64(sym.Size)
	}
	for name, n := range groups {
		b.Groups = append(b.Groups, namedSize{name, n})
	}
	sort.Slice(b.Groups, func(i, j int) bool { return b.Groups[i].Bytes > b.Groups[j].Bytes })
	for name, n := range pkgs {
		b.Top = append(b.Top, namedSize{name, n})
	}
	sort.Slice(b.Top, func(i, j int) bool { return b.Top[i].Bytes > b.Top[j].Bytes })
	if len(b.Top) > 12 {
		b.Top = b.Top[:12]
	}
	return b
}

// symbolPackage is the Go package a symbol belongs to ("C" for C/C++,
// "runtime tables" for the linker's own).
func symbolPackage(sym string) string {
	for _, p := range []string{"type:", "go:itab.", "go:"} {
		if strings.HasPrefix(sym, p) {
			if p == "go:" {
				return "runtime tables"
			}
			sym = strings.TrimPrefix(strings.TrimPrefix(sym, p), "*")
		}
	}
	slash := strings.LastIndex(sym, "/")
	dot := strings.Index(sym[slash+1:], ".")
	if dot < 0 {
		return "C"
	}
	return sym[:slash+1+dot]
}

func packageGroup(pkg string) string {
	switch {
	case pkg == "C":
		return "C/C++ (webview)"
	case pkg == "runtime tables":
		return "runtime tables"
	case strings.HasPrefix(pkg, "linkdesk/app/sim"):
		return "the built-in simulator (app/sim)"
	case strings.HasPrefix(pkg, "linkdesk"):
		return "linkdesk (without the simulator)"
	case strings.Contains(strings.SplitN(pkg, "/", 2)[0], ".") && !strings.HasPrefix(pkg, "vendor/"):
		return "third-party modules"
	}
	return "Go runtime and standard library"
}

func buildEnv(root string) []string {
	env := os.Environ()
	if os.Getenv("PKG_CONFIG_PATH") == "" {
		env = append(env, "PKG_CONFIG_PATH="+root+"/build/linux/pkgconfig")
	}
	return append(env, "CGO_ENABLED=1")
}

// elfSections lists the file's allocated ELF sections, largest first.
func elfSections(path string) ([]namedSize, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []namedSize
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Size < 50_000 {
			continue
		}
		out = append(out, namedSize{s.Name, int64(s.Size)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Bytes > out[j].Bytes })
	return out, nil
}
