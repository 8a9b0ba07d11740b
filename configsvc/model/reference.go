package model

import (
	"fmt"
	"io"
	"strings"
)

// WriteReference writes one line per settable path of the schema, with
// its value type and help, as Markdown list items. SCHEMA.md embeds it.
func WriteReference(w io.Writer) {
	writeRef(w, schemaRoot, nil)
}

func writeRef(w io.Writer, n *Node, path []string) {
	switch n.Kind {
	case Container:
		for _, c := range n.Children {
			p := append(append([]string(nil), path...), c.Name)
			if c.Kind == Container {
				fmt.Fprintf(w, "- `%s` — %s\n", strings.Join(p, " "), c.Help)
			}
			writeRef(w, c, p)
		}
	case Tag:
		p := append(append([]string(nil), path...), "<"+n.Key.Name+">")
		fmt.Fprintf(w, "- `%s` — %s; key: %s\n", strings.Join(p, " "), n.Help, n.Key.Help)
		writeRef(w, n.Entry, p)
	case TagValue:
		p := append(append([]string(nil), path...), "<"+n.Key.Name+">", "<"+n.Value.Name+">")
		fmt.Fprintf(w, "- `%s` — %s; key: %s; value: %s\n", strings.Join(p, " "), n.Help, n.Key.Help, n.Value.describe())
	case Leaf, LeafList:
		rep := ""
		if n.Kind == LeafList && !strings.Contains(n.Help, "repeatable") {
			rep = " (repeatable)"
		}
		fmt.Fprintf(w, "- `%s <%s>` — %s%s; value: %s\n", strings.Join(path, " "), n.Value.Name, n.Help, rep, n.Value.describe())
	}
}
