package memoredis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests run against a real redis-server, which TestMain starts on a free
// port of 127.0.0.1 and stops at the end (the fault tests also stop and
// restart it). Without a redis-server binary the tests skip, unless CI is
// set: then they fail.

var (
	srv        *server
	skipReason string
)

type server struct {
	bin  string
	port int
	dir  string
	cmd  *exec.Cmd
}

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		os.Exit(runWorker()) // a process of the fleet tests (invalidate_test.go)
	}
	s, err := startServer()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, "memoredis tests need a redis-server under CI:", err)
			os.Exit(1)
		}
		skipReason = "no Redis server to test against (" + err.Error() + "); install redis-server to run these tests"
	}
	srv = s
	code := m.Run()
	if srv != nil {
		srv.stop()
		os.RemoveAll(srv.dir)
	}
	os.Exit(code)
}

func startServer() (*server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
			if _, err2 := os.Stat(p); err2 == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "memoredis-test")
	if err != nil {
		return nil, err
	}
	s := &server{bin: bin, port: port, dir: dir}
	return s, s.start()
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) start() error {
	s.cmd = exec.Command(s.bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		return err
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return nil
		}
	}
	s.stop()
	return fmt.Errorf("redis-server on %s did not answer", s.addr())
}

func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// client returns a new client of the test server, as a separate process would
// have, closed at the end of the test; it skips the test without a server.
func client(t *testing.T) *redis.Client {
	t.Helper()
	if srv == nil {
		t.Skip(skipReason)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	return c
}
