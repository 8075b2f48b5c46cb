package main

// The scene engine ("scene": objects, faces, colour, light, text presence) registers itself with
// the router.
import _ "github.com/rpiq/rpiq/assist/scene"
