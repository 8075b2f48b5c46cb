package camera

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Kind is the kind of picture source.
type Kind int

const (
	Device   Kind = iota + 1 // a V4L2 camera, by index (0) or path (/dev/video0)
	Video                    // a video file, rewound at its end so it never runs dry
	Stream                   // a network stream: rtsp://, http://, https://, rtmp://
	Pipeline                 // a GStreamer pipeline ending in appsink (Jetson CSI cameras)
	Still                    // a still image, read again on every capture
)

func (k Kind) String() string {
	switch k {
	case Device:
		return "camera"
	case Video:
		return "video file"
	case Stream:
		return "network stream"
	case Pipeline:
		return "GStreamer pipeline"
	case Still:
		return "image file"
	}
	return fmt.Sprintf("camera.Kind(%d)", int(k))
}

// Live reports whether the source runs on its own clock, so stale buffered frames must be
// dropped before a burst and a failure means the camera went away.
func (k Kind) Live() bool { return k == Device || k == Stream || k == Pipeline }

// Source is a parsed camera source setting.
type Source struct {
	Kind  Kind
	Index int    // Device by index
	Path  string // Device path, file path, URL or pipeline
}

func (s Source) String() string {
	if s.Kind == Device && s.Path == "" {
		return fmt.Sprintf("camera %d", s.Index)
	}
	return fmt.Sprintf("%s %s", s.Kind, s.Path)
}

// ErrBadSource is wrapped by errors about a camera source setting that cannot be understood.
var ErrBadSource = errors.New("bad camera source")

var stillExt = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".bmp": true, ".tif": true, ".tiff": true,
	".webp": true, ".pgm": true, ".ppm": true, ".pnm": true, ".pbm": true,
}

// ParseSource reads a source setting: a device index ("0"), a device path ("/dev/video0"), a
// URL ("rtsp://..."), a GStreamer pipeline ("... ! appsink"), an image (by its extension) or
// else a video file.
func ParseSource(s string) (Source, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Source{}, fmt.Errorf("%w: the source is empty; expected a device number, /dev/videoN, a URL, a video or an image file", ErrBadSource)
	}
	if n, err := strconv.Atoi(t); err == nil {
		if n < 0 || n > 63 {
			return Source{}, fmt.Errorf("%w: device number %d is outside 0..63", ErrBadSource, n)
		}
		return Source{Kind: Device, Index: n}, nil
	}
	if strings.HasPrefix(t, "/dev/") {
		return Source{Kind: Device, Path: t}, nil
	}
	if i := strings.Index(t, "://"); i > 0 {
		switch strings.ToLower(t[:i]) {
		case "rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp":
			return Source{Kind: Stream, Path: t}, nil
		case "file":
			t = t[i+3:]
		default:
			return Source{}, fmt.Errorf("%w: %q: unknown URL scheme %q; expected rtsp, http, https, rtmp, udp or tcp", ErrBadSource, t, t[:i])
		}
	}
	if strings.Contains(t, "!") && strings.Contains(t, "appsink") {
		return Source{Kind: Pipeline, Path: t}, nil
	}
	if stillExt[strings.ToLower(filepath.Ext(t))] {
		return Source{Kind: Still, Path: t}, nil
	}
	return Source{Kind: Video, Path: t}, nil
}
