package bitrix24

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Batch references as the server finds them (CRestUtil::processBatchElement): "$" and
// a section name, case-insensitive, then everything up to white space; the first
// bracketed step of that text is the key of the command referred to.
var (
	batchRefRe  = regexp.MustCompile(`(?i)\$(?:result|next|total|time|error)(\S*)`)
	batchStepRe = regexp.MustCompile(`\[([^\]]+)\]`)
)

// checkBatchRefs refuses a reference the server cannot resolve to what the caller
// meant: to a command of an earlier chunk (each chunk is its own request, whose results
// the server alone sees) or to a command that runs later. The server would not fail it:
// it substitutes the whole result section instead, and the command stores that.
// References to keys that are not commands of this call are left alone as text.
func checkBatchRefs(cmds []BatchCommand, encoded []string) error {
	var index map[string]int // built on the first reference: most batches have none
	for i, enc := range encoded {
		_, query, _ := strings.Cut(enc, "?")
		if !strings.Contains(query, "%24") && !strings.Contains(query, "$") {
			continue
		}
		for pair := range strings.SplitSeq(query, "&") {
			_, value, _ := strings.Cut(pair, "=")
			text, err := url.QueryUnescape(value)
			if err != nil || !strings.Contains(text, "$") {
				continue
			}
			for _, ref := range batchRefRe.FindAllStringSubmatch(text, -1) {
				step := batchStepRe.FindStringSubmatch(ref[1])
				if step == nil {
					continue
				}
				if index == nil {
					index = make(map[string]int, len(cmds))
					for j, cmd := range cmds {
						index[cmd.Key] = j
					}
				}
				j, ok := index[step[1]]
				if !ok {
					continue
				}
				if err := refError(i, j, ref[0], step[1]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// refError says why command i may not refer to command j, or returns nil when it may.
func refError(i, j int, ref, key string) error {
	field := fmt.Sprintf("cmds[%d].Params", i)
	switch {
	case j >= i:
		return invalid(field, fmt.Sprintf("%q refers to command %q, which does not run before it: only earlier commands can be referred to", ref, key))
	case j/MaxBatchCommands != i/MaxBatchCommands:
		return invalid(field, fmt.Sprintf("%q refers to command %q of an earlier chunk: a batch is sent in requests of %d commands and the server resolves references only within one; move both into the same %d, or pass the value yourself",
			ref, key, MaxBatchCommands, MaxBatchCommands))
	}
	return nil
}
