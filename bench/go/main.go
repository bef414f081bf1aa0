// bench/go/main.go - the Go `context` peer (Go 1.19, standard library only)
// of the scenarios of bench/SCENARIOS.md: `bench_go SCENARIO`
// prints `go KEY VALUE UNIT` lines on stdout and remarks on stderr, with the
// harness rules of §2 (calibrated micro-benchmarks, round-based repetitions
// with runtime.GC() at the end of each setup, the S9 protocol, the S10
// permutation).  It mirrors bench/harness.c; keep the two in step.
package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	reps    = 5
	repNs   = int64(200 * time.Millisecond)
	verbose = false
	base    = time.Now()
	sink    context.Context // where created contexts escape (S2)
)

// nowNs is the monotonic clock in nanoseconds since the process began.
func nowNs() int64 { return int64(time.Since(base)) }

// format gives §1's decimals: 3 below 10, 2 below 100, 1 below 1000, 0 above.
func format(v float64) string {
	a := math.Abs(v)
	d := 0
	switch {
	case a < 10:
		d = 3
	case a < 100:
		d = 2
	case a < 1000:
		d = 1
	}
	return strconv.FormatFloat(v, 'f', d, 64)
}

func emit(key string, v float64, unit string) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		printNA(key, unit, "not a finite number")
		return
	}
	fmt.Printf("go %s %s %s\n", key, format(v), unit)
}

func printNA(key, unit, why string) {
	fmt.Printf("go %s NA %s\n", key, unit)
	fmt.Fprintf(os.Stderr, "# go %s NA: %s\n", key, why)
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "# go: ASSERTION FAILED: "+format+"\n", args...)
	os.Exit(2)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// percentile is the nearest rank of sorted v: the value at ceil(p/100*n).
func percentile(sorted []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// micro runs §2.4: calibration, batch of 10 ms, one warm-up batch, whole
// batches until 200 ms per repetition, the median of the repetitions.
func micro(key string, fn func(n uint64)) float64 {
	n := uint64(1)
	var t int64
	for {
		t0 := nowNs()
		fn(n)
		t = nowNs() - t0
		if t >= 1000000 {
			break
		}
		if t < 10000 {
			n *= 100
		} else {
			n *= 10
		}
	}
	batch := uint64(float64(n) * 10e6 / float64(t))
	if batch < 1 {
		batch = 1
	}
	fn(batch)
	v := make([]float64, reps)
	for r := range v {
		var sum int64
		var ops uint64
		for sum < repNs {
			t0 := nowNs()
			fn(batch)
			sum += nowNs() - t0
			ops += batch
		}
		v[r] = float64(sum) / float64(ops)
		if verbose {
			fmt.Fprintf(os.Stderr, "# go %s rep %d: %.3f ns/op (batch %d, %d ops)\n",
				key, r, v[r], batch, ops)
		}
	}
	return median(v)
}

// rounds runs §2.5: a warm-up round, rounds until the timed sections reach
// 200 ms per repetition, the median timed ns per round.  runtime.GC() ends
// every setup, so garbage of earlier rounds is not collected while timed.
//
// Under BENCH_SCALE (the sweep of bench/plots.sh) a round can be a
// microsecond (S5 with depth 1), and a forced collection per round (about
// 0.2 ms here) then made a repetition of 100 ms last over a minute.  So
// there the collector is off during the rounds (debug.SetGCPercent(-1):
// nothing is ever collected inside a timed section, as the rule wants),
// and runtime.GC() ends a setup once the rounds since the last one have
// allocated about 64 MiB (what the warm-up round allocated tells how many
// rounds that is); for a round that allocates 64 MiB or more, that is
// every round, as without BENCH_SCALE.
func rounds(key string, setup, timed, teardown func()) float64 {
	every, count := 1, 0
	if os.Getenv("BENCH_SCALE") != "" {
		var m0, m1 runtime.MemStats
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		runtime.ReadMemStats(&m0)
		setup()
		runtime.GC()
		timed()
		teardown()
		runtime.ReadMemStats(&m1)
		if per := m1.TotalAlloc - m0.TotalAlloc; per > 0 && per < 64<<20 {
			every = int((64 << 20) / per)
		}
		if verbose {
			fmt.Fprintf(os.Stderr, "# go %s: %d bytes per round, runtime.GC() every %d rounds\n",
				key, m1.TotalAlloc-m0.TotalAlloc, every)
		}
	} else {
		setup()
		runtime.GC()
		timed()
		teardown()
	}
	v := make([]float64, reps)
	for r := range v {
		var sum int64
		n := 0
		for sum < repNs {
			setup()
			if count++; count%every == 0 {
				runtime.GC()
			}
			t0 := nowNs()
			timed()
			sum += nowNs() - t0
			teardown()
			n++
		}
		v[r] = float64(sum) / float64(n)
		if verbose {
			fmt.Fprintf(os.Stderr, "# go %s rep %d: %.1f ns/round (%d rounds)\n",
				key, r, v[r], n)
		}
	}
	return median(v)
}

// scale is the size of a scalable scenario (S4's children, S5's depth,
// S8's armed timeouts): def, the size of SCENARIOS.md, unless BENCH_SCALE=N
// (N > 0) is set, as the sweep of bench/plots.sh sets it (harness.c's
// bench_scale).
func scale(def int) int {
	e := os.Getenv("BENCH_SCALE")
	if e == "" {
		return def
	}
	v, err := strconv.Atoi(e)
	if err != nil || v <= 0 || v > 100000000 {
		fmt.Fprintf(os.Stderr, "# go: bad BENCH_SCALE '%s'\n", e)
		os.Exit(64)
	}
	if v != def {
		fmt.Fprintf(os.Stderr, "# go: BENCH_SCALE %d (default %d)\n", v, def)
	}
	return v
}

func cancelled(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// ---- S1 check_not_cancelled (and S1.err: ctx.Err() != nil)
func s1() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hits := 0
	emit("S1", micro("S1", func(n uint64) {
		for i := uint64(0); i < n; i++ {
			if cancelled(ctx) {
				hits++
			}
		}
	}), "ns/op")
	emit("S1.err", micro("S1.err", func(n uint64) {
		for i := uint64(0); i < n; i++ {
			if ctx.Err() != nil {
				hits++
			}
		}
	}), "ns/op")
	if hits != 0 {
		fail("S1: a live context reads cancelled")
	}
}

// ---- S2 token_create_destroy
func s2() {
	emit("S2", micro("S2", func(n uint64) {
		for i := uint64(0); i < n; i++ {
			ctx, cancel := context.WithCancel(context.Background())
			sink = ctx
			cancel()
		}
	}), "ns/op")
	sink = nil
}

// ---- S3 child_create_destroy
func s3() {
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	emit("S3", micro("S3", func(n uint64) {
		for i := uint64(0); i < n; i++ {
			child, cancel := context.WithCancel(parent)
			sink = child
			cancel()
		}
	}), "ns/op")
	sink = nil
	if cancelled(parent) {
		fail("S3: the parent was cancelled")
	}
}

// ---- S4 cascade_cancel_wide
const s4Children = 100000

func s4() {
	var parentCancel context.CancelFunc
	n := scale(s4Children)
	children := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	total := rounds("S4", func() {
		var parent context.Context
		parent, parentCancel = context.WithCancel(context.Background())
		for i := range children {
			children[i], cancels[i] = context.WithCancel(parent)
		}
	}, func() {
		parentCancel()
		for i, c := range children {
			if !cancelled(c) {
				fail("S4: child %d not cancelled", i)
			}
		}
	}, func() {
		for i := range children {
			cancels[i]()
			children[i], cancels[i] = nil, nil
		}
	})
	emit("S4.total", total/1e6, "ms")
	emit("S4.per_child", total/float64(n), "ns/child")
}

// ---- S5 cascade_cancel_deep
const s5Depth = 10000

// chain makes a root and depth descendants, each a child of the one before.
func chain(depth int) (context.CancelFunc, context.Context, []context.CancelFunc) {
	root, rootCancel := context.WithCancel(context.Background())
	cancels := make([]context.CancelFunc, depth)
	leaf := root
	for i := 0; i < depth; i++ {
		leaf, cancels[i] = context.WithCancel(leaf)
	}
	return rootCancel, leaf, cancels
}

func s5() {
	var rootCancel context.CancelFunc
	var leaf context.Context
	var cancels []context.CancelFunc
	depth := scale(s5Depth)
	total := rounds("S5", func() {
		rootCancel, leaf, cancels = chain(depth)
	}, func() {
		rootCancel()
		if !cancelled(leaf) {
			fail("S5: the leaf is not cancelled")
		}
	}, func() {
		for _, c := range cancels {
			c()
		}
		leaf, cancels = nil, nil
	})
	emit("S5.total", total/1e6, "ms")
	emit("S5.per_level", total/float64(depth), "ns/level")
	printNA("S5.stack_per_level", "bytes",
		"goroutine stacks grow on demand, so depth costs no fixed stack")
}

func s5probe(depth int) int {
	rootCancel, leaf, _ := chain(depth)
	rootCancel()
	if !cancelled(leaf) {
		return 1
	}
	return 0
}

// ---- S6, S7: Go 1.19 has no callback registration (AfterFunc is 1.21)
func s6() {
	printNA("S6", "ns/op", "Go 1.19 context has no callback registration (context.AfterFunc is Go 1.21)")
}

func s7() {
	printNA("S7.total", "us", "Go 1.19 context has no callbacks")
	printNA("S7.per_callback", "ns/callback", "Go 1.19 context has no callbacks")
}

// ---- S8 timeout_scope_not_fired
const s8Armed = 100000

func statusKiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return math.NaN()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, field+":") {
			fs := strings.Fields(line[len(field)+1:])
			if len(fs) > 0 {
				if v, err := strconv.ParseFloat(fs[0], 64); err == nil {
					return v
				}
			}
		}
	}
	return math.NaN()
}

func s8() {
	baseRSS := statusKiB("VmRSS")
	n := scale(s8Armed)
	armed := make([]context.Context, n)
	cancels := make([]context.CancelFunc, n)
	for i := range armed {
		armed[i], cancels[i] = context.WithTimeout(context.Background(), 60*time.Second)
	}
	op := micro("S8.op", func(n uint64) {
		for i := uint64(0); i < n; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			sink = ctx
			cancel()
		}
	})
	sink = nil
	peak := statusKiB("VmHWM")
	for i, c := range armed {
		if cancelled(c) {
			fail("S8: armed scope %d fired", i)
		}
	}
	emit("S8.op", op, "ns/op")
	emit("S8.peak_rss", peak/1024, "MiB")
	emit("S8.base_rss", baseRSS/1024, "MiB")
	for _, c := range cancels {
		c()
	}
}

// ---- S9 wake_latency: a persistent waiter goroutine, channels for the
// hand-off, "about to block" and the report.
const (
	s9Warmup  = 100
	s9Samples = 2000
)

func s9(oneCPU bool) {
	handoff := make(chan context.Context)
	ready := make(chan struct{})
	report := make(chan int64)
	go func() {
		for ctx := range handoff {
			ready <- struct{}{}
			<-ctx.Done()
			report <- nowNs()
		}
	}()
	lat := make([]float64, 0, s9Samples)
	for i := 0; i < s9Warmup+s9Samples; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		handoff <- ctx
		<-ready
		if oneCPU {
			end := nowNs() + 100000
			for nowNs() < end {
			}
		} else {
			time.Sleep(time.Millisecond)
		}
		t0 := nowNs()
		cancel()
		t1 := <-report
		if i >= s9Warmup {
			lat = append(lat, float64(t1-t0))
		}
	}
	close(handoff)
	sort.Float64s(lat)
	suffix := ""
	if oneCPU {
		suffix = "_1cpu"
	}
	emit("S9.p50"+suffix, percentile(lat, 50)/1e3, "us")
	emit("S9.p99"+suffix, percentile(lat, 99)/1e3, "us")
	if verbose {
		fmt.Fprintf(os.Stderr, "# go S9%s: min %.2f p90 %.2f max %.2f us (GOMAXPROCS %d)\n",
			suffix, lat[0]/1e3, percentile(lat, 90)/1e3, lat[len(lat)-1]/1e3,
			runtime.GOMAXPROCS(0))
	}
}

// ---- S10 timer_accuracy
const (
	s10Scopes = 1000
	s10Rounds = 5
)

func s10Permutation(n int) []int {
	x := uint64(0x5eed5eed5eed5eed)
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i >= 1; i-- {
		x = x*6364136223846793005 + 1442695040888963407
		j := int((x >> 33) % uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm
}

func s10() {
	perm := s10Permutation(s10Scopes)
	n := s10Rounds
	if reps < n {
		n = reps
	}
	stats := make([][4]float64, n)
	for r := 0; r < n; r++ {
		late := make([]float64, s10Scopes)
		done := make(chan struct{}, s10Scopes)
		cancels := make([]context.CancelFunc, s10Scopes)
		for _, i := range perm {
			d := time.Duration(10+i%41) * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), d)
			cancels[i] = cancel
			deadline, _ := ctx.Deadline()
			go func(i int) {
				<-ctx.Done()
				late[i] = float64(time.Now().Sub(deadline))
				done <- struct{}{}
			}(i)
		}
		for i := 0; i < s10Scopes; i++ {
			<-done
		}
		for _, c := range cancels {
			c()
		}
		sort.Float64s(late)
		stats[r] = [4]float64{percentile(late, 50), percentile(late, 99),
			late[len(late)-1], late[0]}
		if verbose {
			fmt.Fprintf(os.Stderr, "# go S10 round %d: p50 %.4f p99 %.4f max %.4f min %.4f ms\n",
				r, stats[r][0]/1e6, stats[r][1]/1e6, stats[r][2]/1e6, stats[r][3]/1e6)
		}
	}
	keys := []string{"S10.p50", "S10.p99", "S10.max"}
	min := math.Inf(1)
	for k, key := range keys {
		col := make([]float64, n)
		for r := range col {
			col[r] = stats[r][k] / 1e6
			if stats[r][3] < min {
				min = stats[r][3]
			}
		}
		emit(key, median(col), "ms")
	}
	emit("S10.min", min/1e6, "ms")
}

func main() {
	if v, err := strconv.Atoi(os.Getenv("PEERS_REPS")); err == nil && v > 0 {
		reps = v
	}
	if v, err := strconv.Atoi(os.Getenv("PEERS_REP_MS")); err == nil && v > 0 {
		repNs = int64(v) * int64(time.Millisecond)
	}
	verbose = os.Getenv("PEERS_VERBOSE") == "1"
	table := map[string]func(){
		"S1": s1, "S2": s2, "S3": s3, "S4": s4, "S5": s5, "S6": s6, "S7": s7,
		"S8": s8, "S9": func() { s9(false) }, "S9_1cpu": func() { s9(true) },
		"S10": s10,
	}
	if len(os.Args) > 2 && os.Args[1] == "S5probe" {
		depth, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, "usage: bench_go S5probe DEPTH")
			os.Exit(64)
		}
		os.Exit(s5probe(depth))
	}
	if len(os.Args) > 1 {
		if run, ok := table[os.Args[1]]; ok {
			run()
			return
		}
	}
	fmt.Fprintln(os.Stderr, "usage: bench_go SCENARIO, one of: S1 S2 S3 S4 S5 S6 S7 S8 S9 S10 S9_1cpu; or S5probe DEPTH")
	os.Exit(64)
}
