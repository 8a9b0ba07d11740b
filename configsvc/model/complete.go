package model

import (
	"reflect"
	"strings"
)

// Choice is one possible next word offered by completion and `?` help.
type Choice struct {
	Word        string // the word itself, or "<type>" for a free value
	Help        string
	Placeholder bool // Word describes a value to type rather than a literal
}

// EndChoice is offered when the words typed so far already form a
// complete command.
var EndChoice = Choice{Word: "<Enter>", Help: "execute this command", Placeholder: true}

// Complete returns the choices for the word after words, restricted to
// those that start with partial. c supplies existing keys and values (for
// delete and show); it may be nil. forDelete allows stopping at any level.
func Complete(c *Config, words []string, partial string, forDelete bool) []Choice {
	var v reflect.Value
	if c != nil {
		v = reflect.ValueOf(c).Elem()
	}
	field := func(v reflect.Value, i int) reflect.Value {
		if !v.IsValid() {
			return v
		}
		return v.Field(i)
	}
	n, entry := schemaRoot, false
	var out []Choice
	for i := 0; ; i++ {
		last := i == len(words)
		switch n.Kind {
		case Container:
			if last {
				if (entry || forDelete) && n != schemaRoot {
					out = append(out, EndChoice)
				}
				for _, ch := range n.Children {
					out = append(out, Choice{Word: ch.Name, Help: ch.Help})
				}
				return filterChoices(out, partial)
			}
			ch := n.Child(words[i])
			if ch == nil {
				return nil
			}
			n, v, entry = ch, field(v, ch.index), false
		case Tag, TagValue:
			if last {
				if forDelete {
					out = append(out, EndChoice)
				}
				out = append(out, existingKeys(v)...)
				out = append(out, Choice{Word: "<" + n.Key.Name + ">", Help: n.Help + ": " + n.Key.Help, Placeholder: true})
				return filterChoices(out, partial)
			}
			key, err := n.Key.Check(words[i])
			if err != nil {
				return nil
			}
			var e reflect.Value
			if v.IsValid() && !v.IsNil() {
				e = v.MapIndex(reflect.ValueOf(key))
			}
			if n.Kind == TagValue {
				if i+1 == len(words) {
					if forDelete {
						return filterChoices([]Choice{EndChoice}, partial)
					}
					return filterChoices(valueChoices(n, reflect.Value{}), partial)
				}
				if i+2 == len(words) {
					return filterChoices([]Choice{EndChoice}, partial)
				}
				return nil
			}
			if e.IsValid() {
				e = e.Elem()
			}
			n, v, entry = n.Entry, e, true
		case Leaf, LeafList:
			switch {
			case last:
				if forDelete {
					out = append(out, EndChoice)
				}
				return filterChoices(append(out, valueChoices(n, v)...), partial)
			case i+1 == len(words):
				return filterChoices([]Choice{EndChoice}, partial)
			}
			return nil
		}
	}
}

// valueChoices offers an enumeration's values, the current values, and a
// placeholder describing the type.
func valueChoices(n *Node, v reflect.Value) []Choice {
	var out []Choice
	if len(n.Value.Enum) > 0 {
		for _, e := range n.Value.Enum {
			out = append(out, Choice{Word: e, Help: n.Help})
		}
		return out
	}
	if v.IsValid() && !v.IsZero() {
		if n.Kind == LeafList {
			for j := 0; j < v.Len(); j++ {
				out = append(out, Choice{Word: scalarString(v.Index(j)), Help: "current value"})
			}
		} else if s := scalarString(v); len(s) < 80 {
			out = append(out, Choice{Word: s, Help: "current value"})
		}
	}
	return append(out, Choice{Word: "<" + n.Value.Name + ">", Help: n.Help + ": " + n.Value.Help, Placeholder: true})
}

func existingKeys(v reflect.Value) []Choice {
	if !v.IsValid() || v.IsNil() {
		return nil
	}
	var out []Choice
	for _, k := range sortedKeys(v) {
		out = append(out, Choice{Word: k, Help: "existing entry"})
	}
	return out
}

func filterChoices(cs []Choice, partial string) []Choice {
	if partial == "" {
		return cs
	}
	var out []Choice
	for _, c := range cs {
		if c.Placeholder || strings.HasPrefix(c.Word, partial) {
			out = append(out, c)
		}
	}
	return out
}

// CheckPath checks that words name a place in the schema (a section, an
// entry, a leaf, optionally followed by a value), as `show` and `?` take
// them. The error says what would have been valid.
func CheckPath(words []string) error {
	n := schemaRoot
	var path []string
	for i := 0; i < len(words); i++ {
		switch n.Kind {
		case Container:
			ch := n.Child(words[i])
			if ch == nil {
				return expectedChildren(n, path, words[i])
			}
			n, path = ch, append(path, ch.Name)
		case Tag, TagValue:
			key, err := n.Key.Check(words[i])
			if err != nil {
				return &PathError{Path: path, Value: words[i], Err: err}
			}
			path = append(path, key)
			if n.Kind == TagValue {
				if i+1 < len(words) {
					return pathErr(path, words[i+1], "unexpected word after the entry name")
				}
				return nil
			}
			n = n.Entry
		case Leaf, LeafList:
			_, err := leafValue(n, path, words[i:])
			return err
		}
	}
	return nil
}
