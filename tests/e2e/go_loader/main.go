// go_loader - a Go eBPF loader built on cilium/ebpf (Debian's
// golang-github-cilium-ebpf-dev), the way Go tools load BPF: a static
// binary that makes every bpf() and perf_event_open() call itself with raw
// syscalls, probes kernel features on its own, and waits on its ring buffer
// with epoll.
//
//	go_loader BPF_OBJECT TARGET CALLS GETPIDS
//
// It loads BPF_OBJECT (go_loader.bpf.c), attaches its uprobe and uretprobe to
// TARGET's bt_target and its program to syscalls:sys_enter_getpid, runs
// "TARGET CALLS 0 GETPIDS" and reads the ring buffer while it runs, until
// every expected record is there, then the perf buffer, and prints what the
// maps and both buffers saw. tests/e2e/agent-go.sh compares the output with
// the same run against the kernel.
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/ringbuf"
)

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "go_loader: %s: %v\n", what, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: go_loader BPF_OBJECT TARGET CALLS GETPIDS")
		os.Exit(2)
	}
	calls, err := strconv.Atoi(os.Args[3])
	if err != nil || calls < 0 {
		fail("CALLS", fmt.Errorf("%q is not a count", os.Args[3]))
	}
	getpids, err := strconv.Atoi(os.Args[4])
	if err != nil || getpids < 0 {
		fail("GETPIDS", fmt.Errorf("%q is not a count", os.Args[4]))
	}

	coll, err := ebpf.LoadCollection(os.Args[1])
	if err != nil {
		fail("loading "+os.Args[1], err)
	}
	defer coll.Close()

	ex, err := link.OpenExecutable(os.Args[2])
	if err != nil {
		fail("opening "+os.Args[2], err)
	}
	up, err := ex.Uprobe("bt_target", coll.Programs["go_entry"], nil)
	if err != nil {
		fail("attaching the uprobe", err)
	}
	defer up.Close()
	urp, err := ex.Uretprobe("bt_target", coll.Programs["go_return"], nil)
	if err != nil {
		fail("attaching the uretprobe", err)
	}
	defer urp.Close()

	tp, err := link.Tracepoint("syscalls", "sys_enter_getpid", coll.Programs["go_getpid"], nil)
	if err != nil {
		fail("attaching the tracepoint", err)
	}
	defer tp.Close()
	prd, err := perf.NewReader(coll.Maps["pids"], 64*1024)
	if err != nil {
		fail("opening the perf buffer", err)
	}
	defer prd.Close()

	rd, err := ringbuf.NewReader(coll.Maps["events"])
	if err != nil {
		fail("opening the ring buffer", err)
	}
	defer rd.Close()

	cmd := exec.Command(os.Args[2], os.Args[3], "0", os.Args[4])
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fail("starting the target", err)
	}

	// Read while the target runs, so the reader sleeps in epoll_wait and is
	// woken by records as they arrive. A reader that blocks forever would
	// mean a lost record, so give up after a while.
	timer := time.AfterFunc(20*time.Second, func() { rd.Close() })
	var n [2]int
	var sum [2]int64
	for n[0]+n[1] < 2*calls {
		rec, err := rd.Read()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go_loader: ring buffer: %v after %d records\n", err, n[0]+n[1])
			break
		}
		if len(rec.RawSample) < 16 {
			fail("ring buffer", fmt.Errorf("short record of %d bytes", len(rec.RawSample)))
		}
		kind := binary.LittleEndian.Uint32(rec.RawSample[0:4])
		if kind > 1 {
			fail("ring buffer", fmt.Errorf("record kind %d", kind))
		}
		n[kind]++
		sum[kind] += int64(binary.LittleEndian.Uint64(rec.RawSample[8:16]))
	}
	timer.Stop()
	if err := cmd.Wait(); err != nil {
		fail("running the target", err)
	}

	var pidRecords, lost, pidMismatch int
	ptimer := time.AfterFunc(20*time.Second, func() { prd.Close() })
	for pidRecords+lost < getpids {
		rec, err := prd.Read()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go_loader: perf buffer: %v after %d records\n", err, pidRecords)
			break
		}
		if rec.LostSamples > 0 {
			lost += int(rec.LostSamples)
			continue
		}
		if len(rec.RawSample) < 8 {
			fail("perf buffer", fmt.Errorf("short record of %d bytes", len(rec.RawSample)))
		}
		if int(binary.LittleEndian.Uint64(rec.RawSample[0:8])) != cmd.Process.Pid {
			pidMismatch++
		}
		pidRecords++
	}
	ptimer.Stop()

	var entries, returns, getpidCount uint64
	if err := coll.Maps["counts"].Lookup(uint32(2), &getpidCount); err != nil && getpids > 0 {
		fail("looking up the getpid count", err)
	}
	if err := coll.Maps["counts"].Lookup(uint32(0), &entries); err != nil {
		fail("looking up the entry count", err)
	}
	if err := coll.Maps["counts"].Lookup(uint32(1), &returns); err != nil {
		fail("looking up the return count", err)
	}
	var keys int
	it := coll.Maps["counts"].Iterate()
	var k uint32
	var v uint64
	for it.Next(&k, &v) {
		keys++
	}
	if err := it.Err(); err != nil {
		fail("iterating the count map", err)
	}

	fmt.Printf("map: entries=%d returns=%d keys=%d\n", entries, returns, keys)
	fmt.Printf("tracepoint: getpid=%d perf_records=%d lost=%d other_pids=%d\n", getpidCount, pidRecords, lost, pidMismatch)
	fmt.Printf("ring: entries=%d returns=%d arg_sum=%d ret_sum=%d\n", n[0], n[1], sum[0], sum[1])
	info, err := coll.Programs["go_entry"].Info()
	if err != nil {
		fail("program info", err)
	}
	fmt.Printf("program: name=%s type=%s\n", info.Name, info.Type)
}
