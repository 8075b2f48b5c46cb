package camera

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A live source that ends or vanishes is reopened. The "network stream" here is a video file
// opened as a Stream (live) source, so its end is a disconnect, and moving the file away is
// unplugging the camera.
func TestLiveReconnect(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cam.avi")
	card, _ := TextCard(160, 120, "LIVE")
	if err := WriteVideo(path, 10, card, card, card); err != nil {
		t.Fatal(err)
	}
	cam := &Camera{src: Source{Kind: Stream, Path: path},
		opts: Options{Burst: 2, Flush: -1, ReconnectTimeout: 400 * time.Millisecond}.withDefaults()}
	if err := cam.connect(); err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ { // 6 frames from a 3-frame "camera": it ends and is reopened
		if _, err := cam.Burst(ctx, 2); err != nil {
			t.Fatalf("burst %d: %v", i, err)
		}
	}
	if cam.Reconnects() == 0 {
		t.Error("the pipeline ended but was never reopened")
	}
	// Unplugged: the file is gone, so reopening fails and the camera says so.
	os.Rename(path, path+".gone")
	var lastErr error
	for i := 0; i < 4 && lastErr == nil; i++ {
		_, lastErr = cam.Burst(ctx, 2)
	}
	if !errors.Is(lastErr, ErrUnavailable) {
		t.Fatalf("after unplugging: %v", lastErr)
	}
	// Plugged back in: the next capture reconnects.
	os.Rename(path+".gone", path)
	if _, err := cam.Burst(ctx, 1); err != nil {
		t.Fatalf("after plugging back: %v", err)
	}
	if LiveMats() != 0 {
		t.Errorf("%d Mats left open", LiveMats())
	}
}
