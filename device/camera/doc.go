// Package camera takes pictures for the assistant with OpenCV (gocv v0.31.0, which matches
// Debian 12's OpenCV 4.6).
//
// A source is a V4L2 camera (index or /dev/videoN), a video file, a network stream, a GStreamer
// pipeline or a still image. On a trigger the camera captures a short burst and keeps the
// sharpest frame (variance of the Laplacian), then judges it: too dark, too bright, empty or too
// blurred come back as a *QualityError whose text is the sentence to say ("the picture is too
// dark"). A live camera that disappears is reopened with backoff on the next capture.
//
// Frames leave the package as plain RGB bytes (Frame), so callers need not import gocv. Inside,
// every Mat is checked for emptiness before OpenCV sees it (an empty Mat makes OpenCV throw, and
// the C++ exception aborts the whole process) and every Mat is closed; a counter of live Mats
// lets the tests prove it.
package camera
