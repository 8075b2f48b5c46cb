package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rpiq/rpiq/models/tokenizer"
)

func init() {
	register("tokenize", "ids (and pieces) of a text with a model's tokenizer", runTokenize)
}

// runTokenize prints the ids of TEXT (or of stdin when TEXT is absent): the ids on one line,
// then one line per token with its id and piece; --json prints {"ids":[...],"pieces":[...]}.
func runTokenize(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("tokenize", stderr)
	model := fl.String("model", "", "model directory (or tokenizer file: tokenizer.json, tokenizer.bin)")
	bos := fl.Bool("bos", false, "add the special tokens the model starts a sequence with (BOS)")
	asJSON := fl.Bool("json", false, `print one JSON object {"ids":[...],"pieces":[...]}`)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: rpiq tokenize --model MODEL [--bos] [--json] TEXT")
		fl.PrintDefaults()
	}
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if *model == "" {
		return usagef("tokenize: --model is required")
	}
	var text string
	if fl.NArg() > 0 {
		text = strings.Join(fl.Args(), " ")
	} else {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		text = string(b)
	}
	tok, err := tokenizer.Load(*model)
	if err != nil {
		return err
	}
	ids, err := tok.Encode(text, *bos)
	if err != nil {
		return err
	}
	pieces := make([]string, len(ids))
	for i, id := range ids {
		pieces[i] = tok.Piece(id)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if ids == nil {
			ids = []int{}
		}
		return enc.Encode(struct {
			IDs    []int    `json:"ids"`
			Pieces []string `json:"pieces"`
		}{ids, pieces})
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = strconv.Itoa(id)
	}
	fmt.Fprintln(stdout, strings.Join(strs, " "))
	for i, id := range ids {
		fmt.Fprintf(stdout, "%8d  %s\n", id, strconv.Quote(pieces[i]))
	}
	return nil
}
