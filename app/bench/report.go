package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

type reportOut struct {
	text string
	pass bool
}

type row struct {
	figure, measured, target string
	pass                     bool
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// report renders the table, the machine and the details as Markdown.
func report(m machine, ld, br []windowRun, lt linkResult, clicks [2]clickRun, bin binaryBytes, sizeLinkdesk, sizeBare int64, runs int, idle time.Duration, maxLoad float64, took time.Duration) reportOut {
	var rows []row

	// Cold start.
	ldReady, brReady := readies(ld), readies(br)
	ldMed, brMed := medianDur(ldReady), medianDur(brReady)
	ratio := float64(ldMed) / float64(brMed)
	rows = append(rows, row{
		"Cold start to UI interactive",
		fmt.Sprintf("linkdesk %.0f ms vs bare %.0f ms (medians of %d): **%.2f×**", ms(ldMed), ms(brMed), runs, ratio),
		fmt.Sprintf("≤ %.2f× bare", coldStartRatio), ratio <= coldStartRatio,
	})

	// Link-token overhead.
	var over []time.Duration
	maxP := lt.Cold.Polls
	for _, r := range lt.Warm {
		over = append(over, r.Overhead)
		if r.Polls > maxP {
			maxP = r.Polls
		}
	}
	oMed := medianDur(over)
	rows = append(rows, row{
		fmt.Sprintf("Link-token overhead beyond a %s workflow", lt.WorkflowDelay),
		fmt.Sprintf("median **%.0f ms** over %d warm workflows (cold first one: %.0f ms, %d polls); max **%d polls**", ms(oMed), len(lt.Warm), ms(lt.Cold.Overhead), lt.Cold.Polls, maxP),
		fmt.Sprintf("≤ %d ms median, ≤ %d polls", maxOverhead.Milliseconds(), maxPolls),
		oMed <= maxOverhead && maxP <= maxPolls,
	})

	// Click → Link usable (issue 12).
	on, off := clicks[0], clicks[1]
	onMed, offMed := medianDur(on.usable()), medianDur(off.usable())
	rows = append(rows, row{
		fmt.Sprintf("Click → Plaid Link usable, prefetched (%s workflow)", on.WorkflowDelay),
		fmt.Sprintf("median **%.0f ms** over %d warm links (warm-up %.0f ms); token ready %.1f s after opening the customer; %d workflows created by the clicks",
			ms(onMed), len(on.Links), on.WarmUp.ClickToUsableMS, on.readyAfter().Seconds(), on.clickWorkflows()),
		fmt.Sprintf("≤ %d ms median", maxClickPrefetched.Milliseconds()),
		len(on.Links) > 0 && onMed <= maxClickPrefetched && on.allPrepared() && on.clickWorkflows() == 0,
	})
	rows = append(rows, row{
		fmt.Sprintf("Click → Plaid Link usable, prefetch off (%s workflow)", off.WorkflowDelay),
		fmt.Sprintf("median **%.0f ms** over %d warm links: the workflow + **%.0f ms** (warm-up %.0f ms)",
			ms(offMed), len(off.Links), ms(offMed-off.WorkflowDelay), off.WarmUp.ClickToUsableMS),
		fmt.Sprintf("≤ workflow + %d ms median", maxClickOffExtra.Milliseconds()),
		len(off.Links) > 0 && offMed <= off.WorkflowDelay+maxClickOffExtra,
	})

	// Idle memory.
	ldPSS, brPSS := psss(ld), psss(br)
	ldM, brM := medianInt(ldPSS), medianInt(brPSS)
	mratio := float64(ldM) / float64(brM)
	rows = append(rows, row{
		"Idle memory (PSS, app + WebKit processes)",
		fmt.Sprintf("linkdesk %.1f MiB vs bare %.1f MiB (medians of %d, %s idle): **%.2f×**", mib(ldM), mib(brM), runs, idle, mratio),
		fmt.Sprintf("≤ %.1f× bare", memoryRatio), mratio <= memoryRatio,
	})

	// Binary size.
	rows = append(rows, row{
		"Stripped binary size (-trimpath -ldflags \"-s -w\")",
		fmt.Sprintf("**%.1f MB** (%d bytes)", float64(sizeLinkdesk)/1e6, sizeLinkdesk),
		fmt.Sprintf("≤ %d MB", maxBinaryBytes/1_000_000), sizeLinkdesk > 0 && sizeLinkdesk <= maxBinaryBytes,
	})

	// Token requests.
	rows = append(rows, row{
		"Token requests",
		fmt.Sprintf("**%d** for %d API calls over %.1f s (token lifetime %s)", lt.TokenRequests, lt.APICalls, lt.TokenSpan.Seconds(), lt.TokenLifetime),
		fmt.Sprintf("1 per token lifetime, ≥ %d calls", minTokenAPICalls),
		lt.TokenRequests == 1 && lt.APICalls >= minTokenAPICalls && lt.TokenSpan < lt.TokenLifetime,
	})

	var b strings.Builder
	pass := true
	fmt.Fprintf(&b, "## linkdesk benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	b.WriteString("| Figure | Measured | Target | Result |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.figure, r.measured, r.target, verdict(r.pass))
		pass = pass && r.pass
	}
	fmt.Fprintf(&b, "\nMachine: %s, %s, %s RAM, kernel %s, %s; WebKitGTK %s; %s; display %s.\n",
		m.CPU, m.Cores, m.RAM, m.Kernel, m.OS, m.WebKitGTK, m.Go, m.Display)

	b.WriteString("\nDetails:\n\n")
	fmt.Fprintf(&b, "- Cold start, each run (ms): linkdesk %s; bare %s (after one untimed warm-up start of each).\n",
		durList(ldReady), durList(brReady))
	if ph := phases(ld); ph != "" {
		fmt.Fprintf(&b, "- Where linkdesk's start-up goes (median arrival of its log lines, ms after process start): %s.\n", ph)
	}
	ldCPU, brCPU := cpus(ld), cpus(br)
	fmt.Fprintf(&b, "- CPU time used by the process tree until interactive, each run (ms): linkdesk %s; bare %s (medians %.0f vs %.0f ms: %.2f×).\n",
		durList(ldCPU), durList(brCPU), ms(medianDur(ldCPU)), ms(medianDur(brCPU)), float64(medianDur(ldCPU))/float64(medianDur(brCPU)))
	fmt.Fprintf(&b, "- CPU time until interactive by process, medians (ms): linkdesk %s; bare %s.\n", cpuByProc(ld), cpuByProc(br))
	fmt.Fprintf(&b, "- Idle PSS, each run (MiB): linkdesk %s; bare %s.\n", kbList(ldPSS), kbList(brPSS))
	fmt.Fprintf(&b, "- Processes, median-memory run: linkdesk %s; bare %s.\n", procList(medianRun(ld)), procList(medianRun(br)))
	fmt.Fprintf(&b, "- Click → Link usable, prefetched, each link (ms): %s. Where the time goes (median ms after the click): %s.\n", on.list(), on.phaseMedians())
	fmt.Fprintf(&b, "- Click → Link usable, prefetch off, each link (ms): %s. Where the time goes (median ms after the click): %s.\n", off.list(), off.phaseMedians())
	fmt.Fprintf(&b, "- The clicks ran %.0f s (prefetched) and %.0f s (prefetch off), each link for a customer of its own, Link closed after each.\n", on.Took.Seconds(), off.Took.Seconds())
	if len(bin.Sections) > 0 {
		fmt.Fprintf(&b, "- Where the binary's bytes go (MB): sections %s.\n", sizeList(bin.Sections))
	}
	if len(bin.Groups) > 0 {
		fmt.Fprintf(&b, "- Code and data by origin (MB, symbol sizes of an unstripped build; .gopclntab grows with the code): %s. Largest packages: %s. The bare window is %.1f MB: webview and the Go runtime.\n",
			sizeList(bin.Groups), sizeList(bin.Top), float64(sizeBare)/1e6)
	}
	if bin.err != nil {
		fmt.Fprintf(&b, "- Where the binary's bytes go: not measured (%v).\n", bin.err)
	}
	var ov []string
	for _, r := range lt.Warm {
		ov = append(ov, fmt.Sprintf("%.0f ms/%d", ms(r.Overhead), r.Polls))
	}
	fmt.Fprintf(&b, "- Link-token overhead/polls, warm workflows (started 100 ms apart): %s.\n", strings.Join(ov, ", "))
	fmt.Fprintf(&b, "- Bare window binary: %.1f MB. Benchmark wall time: %.0f s. Highest 1-minute load average during the window starts: %.1f on %s.\n",
		float64(sizeBare)/1e6, took.Seconds(), maxLoad, m.Cores)
	foreign := 0
	for _, r := range append(append([]windowRun(nil), ld...), br...) {
		foreign = max(foreign, r.Foreign)
	}
	if foreign > 0 {
		fmt.Fprintf(&b, "\n**Warning:** other programs' WebKit processes (up to %d) were running while memory was read. They share WebKit's libraries with the measured processes, which lowers every PSS figure (the ratio stays comparable, the MiB do not).\n", foreign)
	}
	if maxLoad > float64(m.NumCPU) {
		b.WriteString("\n**Warning:** the machine was busy (load average above its CPU count) while the windows started; the start-up times are noisy. Rerun on an idle machine before trusting a FAIL or a PASS near the target.\n")
	}
	fmt.Fprintf(&b, "\nOverall: %s\n", verdict(pass))
	return reportOut{text: b.String(), pass: pass}
}

func readies(rs []windowRun) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, r.Ready)
	}
	return out
}

// landmarks are log lines linkdesk writes at info level on every start, in
// order: the simulator is up (Go start-up and session.Start so far), the
// first token is issued (the window, WebKit and the page are up and the page
// has asked for the customers), the page is interactive.
var landmarks = []struct{ words, label string }{
	{`msg="sim: listening"`, "simulator listening"},
	{`msg="cybridsim: token issued"`, "first API token issued (page asked for customers)"},
	{readyWords, "page interactive"},
}

func phases(rs []windowRun) string {
	var parts []string
	for _, lm := range landmarks {
		var ats []time.Duration
		for _, r := range rs {
			for _, l := range r.Lines {
				if strings.Contains(l.Text, lm.words) {
					ats = append(ats, l.At)
					break
				}
			}
		}
		if len(ats) == len(rs) && len(rs) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", lm.label, ms(medianDur(ats))))
		}
	}
	return strings.Join(parts, " → ")
}

// cpuByProc is the median CPU time until interactive of each process name.
func cpuByProc(rs []windowRun) string {
	by := map[string][]time.Duration{}
	var names []string
	for _, r := range rs {
		for _, p := range r.CPUs {
			if by[p.Name] == nil {
				names = append(names, p.Name)
			}
			by[p.Name] = append(by[p.Name], p.CPU)
		}
	}
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %.0f", n, ms(medianDur(by[n]))))
	}
	return strings.Join(parts, ", ")
}

func cpus(rs []windowRun) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		out = append(out, r.CPU)
	}
	return out
}

func psss(rs []windowRun) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.PSSkB)
	}
	return out
}

func durList(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, fmt.Sprintf("%.0f", ms(d)))
	}
	return strings.Join(s, " ")
}

func kbList(ks []int64) string {
	var s []string
	for _, k := range ks {
		s = append(s, fmt.Sprintf("%.1f", mib(k)))
	}
	return strings.Join(s, " ")
}

// medianRun is the run whose PSS is the median (the lower middle one).
func medianRun(rs []windowRun) windowRun {
	if len(rs) == 0 {
		return windowRun{}
	}
	s := append([]windowRun(nil), rs...)
	sort.Slice(s, func(i, j int) bool { return s[i].PSSkB < s[j].PSSkB })
	return s[(len(s)-1)/2]
}

// procList names each process with its PSS (and RSS, to show how much a
// summed RSS would double-count).
func procList(r windowRun) string {
	var s []string
	var rss int64
	for _, p := range r.Procs {
		s = append(s, fmt.Sprintf("%s %.1f", p.Name, mib(p.PSSkB)))
		rss += p.RSSkB
	}
	return fmt.Sprintf("%s MiB PSS (RSS summed would be %.1f MiB)", strings.Join(s, ", "), mib(rss))
}
