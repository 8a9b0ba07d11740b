package model

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// PathError says which configuration path and value were refused and why.
// Its text reads like "interfaces eth0 mtu 70000: must be 576..9000".
type PathError struct {
	Path  []string
	Value string // the offending word; "" when the path itself is the problem
	Err   error
}

func (e *PathError) Error() string {
	s := JoinWords(e.Path)
	if e.Value != "" {
		v := Quote(e.Value)
		if len(v) > 48 {
			v = v[:45] + "..."
		}
		s = strings.TrimSpace(s + " " + v)
	}
	if s == "" {
		return e.Err.Error()
	}
	return s + ": " + e.Err.Error()
}

func (e *PathError) Unwrap() error { return e.Err }

func pathErr(path []string, value string, format string, args ...any) error {
	return &PathError{Path: append([]string(nil), path...), Value: value, Err: fmt.Errorf(format, args...)}
}

func expectedChildren(n *Node, path []string, word string) error {
	if word == "" {
		return pathErr(path, "", "incomplete: expected one of %s", n.childNames())
	}
	return pathErr(path, word, "unknown word: expected one of %s", n.childNames())
}

// Set applies one set-line body (the words after "set") to c. The value is
// checked and stored in its canonical form; leaf lists get the value
// appended unless it is already present.
func (c *Config) Set(words []string) error {
	n, v := schemaRoot, reflect.ValueOf(c).Elem()
	var path []string
	entry := false
	for i := 0; ; {
		switch n.Kind {
		case Container:
			if i == len(words) {
				if entry {
					return nil // "set interfaces eth0" creates an empty entry
				}
				return expectedChildren(n, path, "")
			}
			ch := n.Child(words[i])
			if ch == nil {
				return expectedChildren(n, path, words[i])
			}
			n, v, path, entry = ch, v.Field(ch.index), append(path, ch.Name), false
			i++
		case Tag, TagValue:
			if i == len(words) {
				return pathErr(path, "", "missing %s: must be %s", n.Key.Name, n.Key.Help)
			}
			key, err := n.Key.Check(words[i])
			if err != nil {
				return &PathError{Path: path, Value: words[i], Err: err}
			}
			path = append(path, key)
			i++
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			kv := reflect.ValueOf(key)
			if n.Kind == TagValue {
				val, err := leafValue(n, path, words[i:])
				if err != nil {
					return err
				}
				v.SetMapIndex(kv, reflect.ValueOf(val))
				return nil
			}
			e := v.MapIndex(kv)
			if !e.IsValid() {
				e = reflect.New(v.Type().Elem().Elem())
				v.SetMapIndex(kv, e)
			}
			n, v, entry = n.Entry, e.Elem(), true
		case Leaf, LeafList:
			val, err := leafValue(n, path, words[i:])
			if err != nil {
				return err
			}
			et := v.Type()
			if n.Kind == LeafList {
				et = et.Elem()
			}
			sv, err := scalarFromString(val, et)
			if err != nil {
				return pathErr(path, val, "internal: canonical value does not convert: %w", err)
			}
			if n.Kind == Leaf {
				v.Set(sv)
				return nil
			}
			for j := 0; j < v.Len(); j++ {
				if v.Index(j).Equal(sv) {
					return nil
				}
			}
			v.Set(reflect.Append(v, sv))
			return nil
		}
	}
}

// leafValue checks that rest is exactly one valid value for n.
func leafValue(n *Node, path, rest []string) (string, error) {
	switch {
	case len(rest) == 0:
		return "", pathErr(path, "", "missing value: must be %s", n.Value.describe())
	case len(rest) > 1:
		return "", pathErr(path, rest[1], "unexpected word after the value %s (quote values that contain blanks)", Quote(rest[0]))
	}
	val, err := n.Value.Check(rest[0])
	if err != nil {
		return "", &PathError{Path: path, Value: rest[0], Err: err}
	}
	return val, nil
}

func (t *ValueType) describe() string {
	if len(t.Enum) > 0 {
		return "one of " + strings.Join(t.Enum, ", ")
	}
	return t.Help
}

// ErrNotSet is wrapped by Delete when the path holds nothing.
var ErrNotSet = errors.New("not set")

// Delete removes what words (the body of a delete line) point at: a whole
// section, an entry, a leaf, or one value of a leaf list.
func (c *Config) Delete(words []string) error {
	if len(words) == 0 {
		return pathErr(nil, "", "delete what? expected one of %s", schemaRoot.childNames())
	}
	n, v := schemaRoot, reflect.ValueOf(c).Elem()
	var path []string
	for i := 0; ; {
		switch n.Kind {
		case Container:
			if i == len(words) {
				if v.IsZero() {
					return &PathError{Path: path, Err: ErrNotSet}
				}
				v.Set(reflect.Zero(v.Type()))
				return nil
			}
			ch := n.Child(words[i])
			if ch == nil {
				return expectedChildren(n, path, words[i])
			}
			n, v, path = ch, v.Field(ch.index), append(path, ch.Name)
			i++
		case Tag, TagValue:
			if i == len(words) {
				if v.Len() == 0 {
					return &PathError{Path: path, Err: ErrNotSet}
				}
				v.Set(reflect.Zero(v.Type()))
				return nil
			}
			key, err := n.Key.Check(words[i])
			if err != nil {
				return &PathError{Path: path, Value: words[i], Err: err}
			}
			i++
			kv := reflect.ValueOf(key)
			e := v.MapIndex(kv)
			if !e.IsValid() {
				return &PathError{Path: path, Value: key, Err: ErrNotSet}
			}
			path = append(path, key)
			if i == len(words) || n.Kind == TagValue {
				if i < len(words) {
					return pathErr(path, words[i], "unexpected word: delete the whole entry")
				}
				v.SetMapIndex(kv, reflect.Value{})
				if v.Len() == 0 {
					v.Set(reflect.Zero(v.Type()))
				}
				return nil
			}
			n, v = n.Entry, e.Elem()
		case Leaf, LeafList:
			if i == len(words) {
				if v.IsZero() {
					return &PathError{Path: path, Err: ErrNotSet}
				}
				v.Set(reflect.Zero(v.Type()))
				return nil
			}
			val, err := leafValue(n, path, words[i:])
			if err != nil {
				return err
			}
			if n.Kind == Leaf {
				if v.IsZero() || scalarString(v) != val {
					return &PathError{Path: path, Value: val, Err: ErrNotSet}
				}
				v.Set(reflect.Zero(v.Type()))
				return nil
			}
			for j := 0; j < v.Len(); j++ {
				if scalarString(v.Index(j)) == val {
					nv := reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()-1), v.Slice(0, j))
					nv = reflect.AppendSlice(nv, v.Slice(j+1, v.Len()))
					if nv.Len() == 0 {
						nv = reflect.Zero(v.Type())
					}
					v.Set(nv)
					return nil
				}
			}
			return &PathError{Path: path, Value: val, Err: ErrNotSet}
		}
	}
}

// Lines returns c as set-line bodies (without the leading "set"), in
// schema order with map keys sorted, so equal configs give equal lines. An
// entry without any leaf set yields a bare line such as
// ["interfaces" "eth1"] so that it survives a round trip.
func (c *Config) Lines() [][]string {
	var out [][]string
	walkLines(schemaRoot, reflect.ValueOf(c).Elem(), nil, &out)
	return out
}

func walkLines(n *Node, v reflect.Value, path []string, out *[][]string) {
	emit := func(words ...string) {
		l := make([]string, 0, len(path)+len(words))
		*out = append(*out, append(append(l, path...), words...))
	}
	switch n.Kind {
	case Container:
		for _, ch := range n.Children {
			walkLines(ch, v.Field(ch.index), append(path, ch.Name), out)
		}
	case Tag:
		for _, k := range sortedKeys(v) {
			before := len(*out)
			walkLines(n.Entry, v.MapIndex(reflect.ValueOf(k)).Elem(), append(path, k), out)
			if len(*out) == before {
				emit(k)
			}
		}
	case TagValue:
		for _, k := range sortedKeys(v) {
			emit(k, v.MapIndex(reflect.ValueOf(k)).String())
		}
	case Leaf:
		if !v.IsZero() {
			emit(scalarString(v))
		}
	case LeafList:
		for j := 0; j < v.Len(); j++ {
			emit(scalarString(v.Index(j)))
		}
	}
}

func sortedKeys(m reflect.Value) []string {
	keys := make([]string, 0, m.Len())
	for _, k := range m.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	return keys
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := &Config{}
	for _, l := range c.Lines() {
		if err := n.Set(l); err != nil {
			// Lines only yields canonical values that Set accepts.
			panic(fmt.Sprintf("model: clone: %v", err))
		}
	}
	return n
}

// Equal reports whether c and o hold the same configuration.
func (c *Config) Equal(o *Config) bool {
	a, b := c.Lines(), o.Lines()
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if JoinWords(a[i]) != JoinWords(b[i]) {
			return false
		}
	}
	return true
}
