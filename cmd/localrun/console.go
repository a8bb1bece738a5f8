package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// console prints short progress lines, one writer at a time:
//
//	0.84s  atlas   POST …/endpointService/5f00000000000000000000a1/endpoint → 200
type console struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	// stopped: the stack is being stopped, and the emulator's and the
	// function's last words (the Runtime.ExitError of a killed function)
	// are not news.
	stopped bool
}

func newConsole(w io.Writer) *console { return &console{w: w, start: time.Now()} }

func (c *console) line(tag, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, "%6.2fs  %-6s  %s\n", time.Since(c.start).Seconds(), tag, text)
}

// stopping says the stack is being stopped and mutes the emulator and the function.
func (c *console) stopping() {
	c.line("local", "stopping everything")
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

func (c *console) muted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// block runs fn while no progress line can be printed, so a block of
// output (the result, the instructions) stays whole.
func (c *console) block(fn func(w io.Writer)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.w)
}

// atlasLog is a slog handler for the Atlas fake's lines. It shortens the API
// paths and marks digest challenges, which precede every digest request.
type atlasLog struct {
	con    *console
	raw    bool
	digest bool // hide the 401 challenge that precedes every digest request
}

var apiPrefix = regexp.MustCompile(`/api/atlas/(v2|v1\.0)/groups/[0-9a-f]{24}/privateEndpoint`)

func (h *atlasLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *atlasLog) Handle(_ context.Context, r slog.Record) error {
	msg := r.Message
	if !h.raw {
		msg = apiPrefix.ReplaceAllString(msg, "…")
		msg = strings.ReplaceAll(msg, " -> ", " → ")
		if strings.HasSuffix(msg, " → 401") && h.digest {
			// Every digest request is challenged first; -v shows these.
			return nil
		}
	}
	h.con.line("atlas", msg)
	return nil
}

func (h *atlasLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *atlasLog) WithGroup(string) slog.Handler      { return h }

// lineWriter calls fn with each complete line written to it.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimRight(string(w.buf[:i]), "\r")
		w.buf = w.buf[i+1:]
		if line != "" {
			w.fn(line)
		}
	}
}

// The emulator's own lines: "27 Nov 2026 10:42:45,779 [INFO] (rapid) …".
var (
	rapidLine  = regexp.MustCompile(`^\d{2} \w{3} \d{4} [\d:,]+ \[(\w+)\] \(rapid\) (.*)$`)
	stdLogLine = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (.*)$`)
	reportLine = regexp.MustCompile(`^REPORT RequestId: \S+\s+(Init Duration: [\d.]+ ms\s+)?Duration: ([\d.]+) ms`)
)

// emulatorLine prints the emulator's own output (its stderr) as the
// emulator's: its INFO chatter is dropped unless raw, its warnings are kept
// (they say when it reset the function), and anything else, such as a crash,
// is shown as it is.
func (c *console) emulatorLine(raw bool) func(string) {
	return func(line string) {
		if c.muted() {
			return
		}
		if m := rapidLine.FindStringSubmatch(line); m != nil && !raw {
			if m[1] == "INFO" || m[1] == "DEBUG" {
				return
			}
			line = m[1] + " " + m[2]
		}
		c.line("rie", line)
	}
}

// functionLine condenses the function's output (the emulator's stdout): its
// JSON log lines become "LEVEL message key=value …", the REPORT line its
// durations.
func (c *console) functionLine(raw bool) func(string) {
	return func(line string) {
		if c.muted() {
			return
		}
		if raw {
			c.line("lambda", line)
			return
		}
		if strings.HasPrefix(line, "START RequestId:") || strings.HasPrefix(line, "END RequestId:") {
			return
		}
		if m := reportLine.FindStringSubmatch(line); m != nil {
			// The emulator's init figure is not meaningful: it starts the
			// function lazily, so only the fact of a cold start is kept.
			text := "REPORT duration " + m[2] + " ms"
			if m[1] != "" {
				text += " (cold start)"
			}
			c.line("lambda", text)
			return
		}
		// The runtime library logs a returned error with the standard logger:
		// `2026/11/27 10:48:16 {"errorMessage":…,"errorType":…}`.
		if m := stdLogLine.FindStringSubmatch(line); m != nil {
			var fe struct{ ErrorType, ErrorMessage string }
			if json.Unmarshal([]byte(m[1]), &fe) == nil && fe.ErrorType != "" {
				c.line("lambda", "returned "+fe.ErrorType+": "+fe.ErrorMessage)
				return
			}
			line = m[1]
		}
		if text, ok := condenseJSON(line); ok {
			c.line("lambda", text)
			return
		}
		c.line("lambda", line)
	}
}

// condenseJSON turns a slog JSON line into "LEVEL message key=value …",
// keeping the keys in their order and leaving out the time, the request id
// and empty values. The metrics line (embedded metric format, with its
// "_aws" member) becomes "METRICS key=value …" without the metadata.
func condenseJSON(line string) (string, bool) {
	if !strings.HasPrefix(line, "{") {
		return "", false
	}
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	var level, msg string
	var attrs []string
	metrics := false
	for d.More() {
		kt, err := d.Token()
		if err != nil {
			return "", false
		}
		key, _ := kt.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return "", false
		}
		if key == "SecondsToAvailable" {
			v = rounded(v)
		}
		s := flat(v)
		switch key {
		case "time", "timestamp", "requestId":
		case "_aws":
			metrics = true
		case "level":
			level = s
		case "msg", "message":
			msg = s
		default:
			if s != "" {
				attrs = append(attrs, key+"="+s)
			}
		}
	}
	if metrics {
		return "METRICS " + strings.Join(attrs, " "), true
	}
	out := fmt.Sprintf("%-5s %s", level, msg)
	if len(attrs) > 0 {
		out += "  " + strings.Join(attrs, " ")
	}
	return out, true
}

// rounded gives seconds (one value or a list of them) to a tenth: the
// metric carries the measurement's full precision, which the console does
// not need.
func rounded(v any) any {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return v
		}
		return json.Number(strconv.FormatFloat(f, 'f', 1, 64))
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = rounded(x)
		}
		return out
	}
	return v
}

func flat(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case []any:
		parts := make([]string, 0, len(v))
		for _, x := range v {
			parts = append(parts, flat(x))
		}
		return strings.Join(parts, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}
