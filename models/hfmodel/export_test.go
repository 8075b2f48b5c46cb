package hfmodel

// PackHits is how many weights loads have built from pre-packed sidecar files so far.
func PackHits() int64 { return packHits.Load() }
