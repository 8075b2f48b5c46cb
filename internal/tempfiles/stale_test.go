package tempfiles

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestStaleWriterChild is not a test: it is the writer process TestSweep kills. It creates a
// temporary for $TEMPFILES_TARGET, prints its path and waits.
func TestStaleWriterChild(t *testing.T) {
	target := os.Getenv("TEMPFILES_TARGET")
	if target == "" {
		t.Skip("helper process for TestSweep")
	}
	var p string
	if os.Getenv("TEMPFILES_DIR") != "" {
		d, _, err := Dir(target)
		if err != nil {
			os.Exit(3)
		}
		os.WriteFile(filepath.Join(d, "part"), make([]byte, 1000), 0o644)
		p = d
	} else {
		f, _, err := File(target)
		if err != nil {
			os.Exit(3)
		}
		f.Write(make([]byte, 5000))
		p = f.Name()
	}
	os.Stdout.WriteString(p + "\n")
	select {}
}

// startWriter starts a child that holds a temporary for target and returns it and the path.
func startWriter(t *testing.T, target string, dir bool) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStaleWriterChild$")
	cmd.Env = append(os.Environ(), "TEMPFILES_TARGET="+target)
	if dir {
		cmd.Env = append(cmd.Env, "TEMPFILES_DIR=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("writer child: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

// Issue 14: a SIGKILLed writer's temporaries are removed by the next Sweep for the same
// target; a live writer's (another process, or this one) and other targets' are not.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "out.gguf")
	killed, killedTmp := startWriter(t, target, false)
	_, liveTmp := startWriter(t, target, false)
	killedDir, killedDirTmp := startWriter(t, filepath.Join(dir, "model"), true)
	_, otherTmp := startWriter(t, filepath.Join(dir, "other.gguf"), false)
	// This process's own (not through File: TestAbandonRemovesTracked may have run).
	own, err := os.CreateTemp(dir, Pattern(target))
	if err != nil {
		t.Fatal(err)
	}
	own.Close()
	unrelated := filepath.Join(dir, ".out.gguf.tmp-123456") // an older name: no pid
	os.WriteFile(unrelated, nil, 0o644)
	for p, base := range map[string]string{killedTmp: "out.gguf", liveTmp: "out.gguf", killedDirTmp: "model", otherTmp: "other.gguf"} {
		if !strings.HasPrefix(filepath.Base(p), "."+base+".tmp-") || filepath.Dir(p) != dir {
			t.Fatalf("temporary %s is not named after its target %s", p, base)
		}
	}

	// Every writer alive: nothing goes.
	if got, err := Sweep(dir, "out.gguf"); err != nil || len(got) != 0 {
		t.Fatalf("Sweep with live writers removed %v (%v)", got, err)
	}
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()
	killedDir.Process.Signal(syscall.SIGKILL)
	killedDir.Wait()

	got, err := Sweep(dir, "out.gguf")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != killedTmp || got[0].Bytes != 5000 || got[0].PID != killed.Process.Pid {
		t.Fatalf("Sweep removed %+v, want only %s (5000 bytes, pid %d)", got, killedTmp, killed.Process.Pid)
	}
	for _, p := range []string{liveTmp, own.Name(), otherTmp, unrelated, killedDirTmp} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	if s := Summary(got); !strings.Contains(s, killedTmp) || !strings.Contains(s, strconv.Itoa(killed.Process.Pid)) || strings.Contains(s, "\n") {
		t.Errorf("summary %q: want one line naming the file and the pid", s)
	}
	// The folder of a killed `convert`.
	got, err = Sweep(dir, "model")
	if err != nil || len(got) != 1 || got[0].Path != killedDirTmp || got[0].Bytes != 1000 {
		t.Fatalf("Sweep(model) removed %+v (%v), want %s", got, err, killedDirTmp)
	}
	// base "": every target's temporaries of dead writers (none left now).
	if got, err := Sweep(dir, ""); err != nil || len(got) != 0 {
		t.Fatalf("Sweep(\"\") removed %v (%v)", got, err)
	}
}

// A writer holding the flock is alive even when its pid is not (another pid namespace).
func TestSweepKeepsLocked(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip(err)
	}
	p := filepath.Join(dir, ".x.tmp-"+strconv.Itoa(dead.Process.Pid)+"-42")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Skip("no flock here:", err)
	}
	if got, _ := Sweep(dir, "x"); len(got) != 0 {
		t.Fatalf("removed a locked temporary: %v", got)
	}
	f.Close()
	if got, _ := Sweep(dir, "x"); len(got) != 1 {
		t.Fatalf("after the lock was released: removed %v, want the file", got)
	}
}

func TestWriterPID(t *testing.T) {
	for _, c := range []struct {
		name, base string
		pid        int
		ok         bool
	}{
		{".a.gguf.tmp-12-345", "a.gguf", 12, true},
		{".a.gguf.tmp-12-345", "", 12, true},
		{".a.gguf.tmp-12-345", "b.gguf", 0, false},
		{".a.gguf.tmp-12345", "a.gguf", 0, false}, // no pid (older name)
		{".a.gguf.tmp-x-1", "", 0, false},
		{"a.gguf.tmp-1-2", "", 0, false},
		{".tokenizer.json.tmp-7-8", "", 7, true},
		{".a.tmp-0-1", "a", 0, false},
	} {
		pid, ok := writerPID(c.name, c.base)
		if pid != c.pid || ok != c.ok {
			t.Errorf("writerPID(%q, %q) = %d %v, want %d %v", c.name, c.base, pid, ok, c.pid, c.ok)
		}
	}
}
