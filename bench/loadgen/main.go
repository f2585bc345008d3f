// Command loadgen drives a fixed-concurrency, bounded KV load against etcd's
// gRPC API and prints one JSON line: requests, errors, seconds, throughput,
// client latency percentiles. Requests are marshalled by hand with protowire
// so no generated etcd stubs are needed; the wire format is etcd's
// etcdserverpb (rpc.proto).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec passes pre-marshalled protobuf bytes through gRPC untouched.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

const (
	methodRange       = "/etcdserverpb.KV/Range"
	methodPut         = "/etcdserverpb.KV/Put"
	methodDeleteRange = "/etcdserverpb.KV/DeleteRange"
	methodTxn         = "/etcdserverpb.KV/Txn"
	methodCompact     = "/etcdserverpb.KV/Compact"
)

// Field 1 is `key` in RangeRequest, PutRequest and DeleteRangeRequest;
// field 2 is `value` in PutRequest.
func keyRequest(key []byte, value []byte) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, key)
	if value != nil {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendBytes(b, value)
	}
	return b
}

// compactRequest asks for revision 1: cheap, and answered with OutOfRange
// once compacted, which still exercises the handler.
func compactRequest() []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

type config struct {
	endpoints   []string
	concurrency int
	requests    int
	maxSeconds  float64
	putPercent  int
	keys        int
	valueSize   int
	allMethods  bool
}

type result struct {
	Requests   int     `json:"requests"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

func parseFlags() config {
	var c config
	var eps string
	flag.StringVar(&eps, "endpoints", "127.0.0.1:2379", "comma-separated host:port of etcd members")
	flag.IntVar(&c.concurrency, "concurrency", 16, "callers at once")
	flag.IntVar(&c.requests, "requests", 10000, "total requests")
	flag.Float64Var(&c.maxSeconds, "max-seconds", 60, "stop after this long even if requests remain")
	flag.IntVar(&c.putPercent, "put-percent", 90, "share of puts; the rest are ranges")
	flag.IntVar(&c.keys, "keys", 1000, "size of the key space")
	flag.IntVar(&c.valueSize, "value-size", 256, "bytes per value")
	flag.BoolVar(&c.allMethods, "all-methods", false, "first send one request of every KV method per endpoint")
	flag.Parse()
	for _, e := range strings.Split(eps, ",") {
		e = strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://")
		if e != "" {
			c.endpoints = append(c.endpoints, e)
		}
	}
	return c
}

func dial(endpoints []string) ([]*grpc.ClientConn, error) {
	var conns []*grpc.ClientConn
	for _, e := range endpoints {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cc, err := grpc.DialContext(ctx, e, grpc.WithInsecure(), grpc.WithBlock(),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("dial %s: %v", e, err)
		}
		conns = append(conns, cc)
	}
	return conns, nil
}

func call(cc *grpc.ClientConn, method string, req []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var resp []byte
	return cc.Invoke(ctx, method, &req, &resp)
}

// touchAllMethods makes every method's series exist on every member.
func touchAllMethods(conns []*grpc.ClientConn) {
	for _, cc := range conns {
		_ = call(cc, methodPut, keyRequest([]byte("bench/touch"), []byte("x")))
		_ = call(cc, methodRange, keyRequest([]byte("bench/touch"), nil))
		_ = call(cc, methodTxn, nil)
		_ = call(cc, methodDeleteRange, keyRequest([]byte("bench/touch"), nil))
		_ = call(cc, methodCompact, compactRequest())
	}
}

func run(c config, conns []*grpc.ClientConn) result {
	var next int64 = -1
	var errs int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, c.concurrency)
	value := make([]byte, c.valueSize)
	deadline := time.Now().Add(time.Duration(c.maxSeconds * float64(time.Second)))
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < c.concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w) + 1))
			cc := conns[w%len(conns)]
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(c.requests) || time.Now().After(deadline) {
					return
				}
				key := []byte(fmt.Sprintf("bench/%06d", rng.Intn(c.keys)))
				method, req := methodRange, keyRequest(key, nil)
				if rng.Intn(100) < c.putPercent {
					method, req = methodPut, keyRequest(key, value)
				}
				t0 := time.Now()
				if err := call(cc, method, req); err != nil {
					atomic.AddInt64(&errs, 1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	return summarize(lat, time.Since(start), errs, firstErr.Load())
}

func summarize(lat [][]time.Duration, elapsed time.Duration, errs int64, firstErr interface{}) result {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1e6
	}
	r := result{Requests: len(all), Errors: errs, Seconds: elapsed.Seconds(),
		P50Ms: pct(0.50), P99Ms: pct(0.99)}
	if elapsed > 0 {
		r.Throughput = float64(len(all)) / elapsed.Seconds()
	}
	if s, ok := firstErr.(string); ok {
		r.FirstError = s
	}
	return r
}

func main() {
	c := parseFlags()
	if len(c.endpoints) == 0 || c.concurrency < 1 || c.requests < 0 || c.keys < 1 {
		fmt.Fprintln(os.Stderr, "loadgen: need endpoints, concurrency >= 1, requests >= 0, keys >= 1")
		os.Exit(2)
	}
	conns, err := dial(c.endpoints)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if c.allMethods {
		touchAllMethods(conns)
	}
	r := run(c, conns)
	for _, cc := range conns {
		cc.Close()
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
}
