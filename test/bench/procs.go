//go:build benchcluster

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// launcher starts manager processes, each on ports of its own and logging to
// a file of its own, so that one run can measure one manager, several shards,
// or a leader and its standby.
type launcher struct {
	bin, kubeconfig, logDir string
	extra                   []string // flags for every manager
	goMemLimit              string   // GOMEMLIMIT of every manager, if set
	port                    int      // the next free metrics port; the probe port follows it
	started                 []*managerProc
}

// managerProc is one manager process.
type managerProc struct {
	name    string
	cmd     *exec.Cmd
	metrics string // its metrics URL
	logPath string
	exited  chan struct{}
}

// start runs the manager with args besides the kubeconfig, log format and
// ports, and waits until its probes and metrics answer.
func (l *launcher) start(ctx context.Context, name string, args ...string) (*managerProc, error) {
	metricsPort, probePort := l.port, l.port+1
	l.port += 2
	// Another process on a port would answer the probes in the manager's
	// stead, and the benchmark would measure it.
	for _, port := range []int{metricsPort, probePort} {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return nil, fmt.Errorf("manager %s: port %d is taken (choose others with --port / BENCH_PORT): %w", name, port, err)
		}
		ln.Close()
	}
	p := &managerProc{
		name:    name,
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		logPath: filepath.Join(l.logDir, "bench-manager-"+name+".log"),
		exited:  make(chan struct{}),
	}
	log, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(l.bin, append([]string{"--kubeconfig", l.kubeconfig, "--log-format=console",
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metricsPort),
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort)}, append(l.extra, args...)...)...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	if l.goMemLimit != "" {
		p.cmd.Env = append(os.Environ(), "GOMEMLIMIT="+l.goMemLimit)
	}
	// A benchmark killed outright must not leave managers behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting manager %s: %w", name, err)
	}
	l.started = append(l.started, p)
	go func() { _ = p.cmd.Wait(); log.Close(); close(p.exited) }()

	probe := fmt.Sprintf("http://127.0.0.1:%d/readyz", probePort)
	err = poll(ctx, 30*time.Second, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-p.exited:
			return false, errors.New("it exited")
		default:
		}
		return answers(ctx, probe) && answers(ctx, p.metrics), nil
	}, "manager "+name+" to answer its probes")
	if err != nil {
		return nil, fmt.Errorf("%w; the end of its log:\n%s", err, p.logTail(20))
	}
	return p, nil
}

func answers(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (p *managerProc) pid() int { return p.cmd.Process.Pid }

// stop asks the manager to stop (it releases its Lease) and kills it if it
// has not after 10 s.
func (p *managerProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.kill()
	}
}

// kill ends the manager at once, as a node failure would: it releases
// nothing.
func (p *managerProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *managerProc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// stopAll stops every manager still running.
func (l *launcher) stopAll() {
	for _, p := range l.started {
		select {
		case <-p.exited:
		default:
			p.stop()
		}
	}
}
