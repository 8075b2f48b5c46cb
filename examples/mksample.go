//go:build ignore

// mksample renders examples/sample.png, the picture the README's first command reads aloud:
//
//	go run examples/mksample.go
package main

import (
	"image/color"
	"image/png"
	"log"
	"os"

	"github.com/rpiq/rpiq/assist/textimage"
)

func main() {
	img, err := textimage.Render([]string{
		"OAT MILK 1 litre",
		"Best before 12 May 2027.",
		"Keep refrigerated after opening.",
	}, textimage.Options{Width: 640, Height: 480, Size: 34, Top: 150, Paper: color.RGBA{246, 240, 226, 255}, Ink: color.RGBA{25, 35, 60, 255}})
	if err != nil {
		log.Fatal(err)
	}
	tmp := "examples/.sample.png.tmp"
	f, err := os.Create(tmp)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		log.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		log.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, "examples/sample.png"); err != nil {
		log.Fatal(err)
	}
}
