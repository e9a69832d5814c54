package session

import (
	"log/slog"
	"os"
	"sync"

	"linkdesk/app/ui"
)

// BenchReadyEnv names the variable that turns on the benchmark's measurement
// hook (see app/bench): with LINKDESK_BENCH_READY=1 the window logs
// BenchReadyMessage at info level once the app page has marked itself
// interactive (body[data-ready="true"], set when the customers list is
// rendered), so that start-up can be timed from outside the process. Unset,
// nothing is bound or injected.
const BenchReadyEnv = "LINKDESK_BENCH_READY"

// BenchReadyMessage is the message the hook logs.
const BenchReadyMessage = "page interactive"

// benchReadyScript runs at the start of every top-level document and calls
// the hook's binding once when the page sets data-ready="true" on body.
const benchReadyScript = `(() => {
  let sent = false;
  const check = () => {
    if (sent || !document.body || document.body.dataset.ready !== "true") return;
    sent = true;
    mo.disconnect();
    window.linkdeskBenchReady();
  };
  const mo = new MutationObserver(check);
  mo.observe(document, {subtree: true, attributes: true, attributeFilter: ["data-ready"]});
})();`

// installBenchReady installs the hook on w when BenchReadyEnv is "1". Call it
// on the main goroutine before the window runs.
func installBenchReady(w *ui.Window, log *slog.Logger) {
	if os.Getenv(BenchReadyEnv) != "1" {
		return
	}
	var once sync.Once
	if err := w.View.Bind("linkdeskBenchReady", func() {
		once.Do(func() { log.Info(BenchReadyMessage, "hook", BenchReadyEnv) })
	}); err != nil {
		log.Warn("benchmark hook not installed", "err", err)
		return
	}
	w.View.Init(benchReadyScript)
}
