package main

// The vision-language answer engine ("vlm": CogVLM2) registers itself with the router.
import _ "github.com/rpiq/rpiq/assist/vlm"
