package doctor

import (
	"fmt"
	"io"
	"strings"
)

// Style chooses how Write marks results.
type Style struct {
	// Symbols marks results ✓ ✗ – and advice →; otherwise ok / FAIL / skip
	// and -> (plain ASCII for logs, pipes and files).
	Symbols bool
	// Color adds ANSI colours to the marks (terminals only).
	Color bool
}

// Write prints the report: a header naming the environment, one line per
// check (mark, name, summary), the advice of each failed check on indented
// lines below it, and a closing line with the number of failures.
func (r *Report) Write(w io.Writer, st Style) error {
	var b strings.Builder
	env := string(r.Env)
	if env == "" {
		env = "(unknown)"
	}
	fmt.Fprintf(&b, "linkdesk doctor: environment %s\n", env)
	width := 0
	for _, res := range r.Results {
		width = max(width, len(res.Check))
	}
	markWidth := 4
	if st.Symbols {
		markWidth = 1
	}
	indent := strings.Repeat(" ", markWidth+1+width+2)
	for _, res := range r.Results {
		fmt.Fprintf(&b, "%s %-*s  %s\n", st.mark(res.Status, markWidth), width, res.Check, res.Summary)
		arrow := "->"
		if st.Symbols {
			arrow = "→"
		}
		for _, a := range res.Advice {
			fmt.Fprintf(&b, "%s%s %s\n", indent, arrow, a)
		}
	}
	n := r.Failures()
	switch {
	case n == 0:
		fmt.Fprintf(&b, "No problems found (%s).\n", plural(len(r.Results), "check", "checks"))
	default:
		fmt.Fprintf(&b, "%s of %d failed: see the advice above.\n", plural(n, "check", "checks"), len(r.Results))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (st Style) mark(s Status, width int) string {
	var m, color string
	switch {
	case st.Symbols && s == OK:
		m, color = "✓", "\x1b[32m"
	case st.Symbols && s == Failed:
		m, color = "✗", "\x1b[31m"
	case st.Symbols:
		m, color = "–", "\x1b[2m"
	default:
		m = fmt.Sprintf("%-*s", width, s.String())
	}
	if st.Color && color != "" {
		return color + m + "\x1b[0m"
	}
	return m
}
