package model

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
)

// Kind is the shape of a schema node.
type Kind int

// Node kinds.
const (
	Container Kind = iota // a fixed set of named children (a struct)
	Tag                   // user-keyed entries that are containers (map[string]*T)
	TagValue              // user-keyed entries holding one value (map[string]string)
	Leaf                  // one value
	LeafList              // an ordered list of distinct values
)

var kindNames = [...]string{"container", "tag", "tag-value", "leaf", "leaf-list"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Node is one element of the schema tree.
type Node struct {
	Name     string
	Help     string
	Kind     Kind
	Key      *ValueType // Tag, TagValue: what a key must look like
	Value    *ValueType // Leaf, LeafList, TagValue: what a value must look like
	Children []*Node    // Container: the named children
	Entry    *Node      // Tag: the container each key leads to

	index  int          // field index in the parent struct
	goType reflect.Type // field type
}

// Child returns the child container field called name, or nil.
func (n *Node) Child(name string) *Node {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (n *Node) childNames() string {
	names := make([]string, len(n.Children))
	for i, c := range n.Children {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

// schemaRoot is built once from the Config type and never modified.
var schemaRoot = mustBuildContainer(reflect.TypeOf(Config{}), "", "the whole configuration")

// Schema returns the root of the schema tree. Callers must not modify it.
func Schema() *Node { return schemaRoot }

var (
	addrType   = reflect.TypeOf(netip.Addr{})
	prefixType = reflect.TypeOf(netip.Prefix{})
)

func mustBuildContainer(t reflect.Type, name, help string) *Node {
	n := &Node{Name: name, Help: help, Kind: Container, goType: t}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		word := f.Tag.Get("cfg")
		if word == "" {
			panic(fmt.Sprintf("model: field %s.%s has no cfg tag", t.Name(), f.Name))
		}
		c := &Node{Name: word, Help: f.Tag.Get("help"), index: i, goType: f.Type}
		if k := f.Tag.Get("key"); k != "" {
			c.Key = mustValueType(k, t, f)
		}
		if v := f.Tag.Get("type"); v != "" {
			c.Value = mustValueType(v, t, f)
		}
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type != addrType && f.Type != prefixType:
			c = mustBuildContainer(f.Type, word, c.Help)
			c.index = i
		case f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.Pointer:
			c.Kind = Tag
			c.Entry = mustBuildContainer(f.Type.Elem().Elem(), "", c.Help)
		case f.Type.Kind() == reflect.Map && f.Type.Elem().Kind() == reflect.String:
			c.Kind = TagValue
		case f.Type.Kind() == reflect.Slice:
			c.Kind = LeafList
			mustScalar(f.Type.Elem(), t, f)
		default:
			c.Kind = Leaf
			mustScalar(f.Type, t, f)
		}
		if (c.Kind == Tag || c.Kind == TagValue) && c.Key == nil ||
			(c.Kind != Container && c.Kind != Tag) && c.Value == nil {
			panic(fmt.Sprintf("model: field %s.%s lacks key or type tag", t.Name(), f.Name))
		}
		n.Children = append(n.Children, c)
	}
	return n
}

func mustValueType(name string, t reflect.Type, f reflect.StructField) *ValueType {
	vt, ok := valueTypes[name]
	if !ok {
		panic(fmt.Sprintf("model: field %s.%s names unknown type %q", t.Name(), f.Name, name))
	}
	return vt
}

func mustScalar(ft reflect.Type, t reflect.Type, f reflect.StructField) {
	switch ft.Kind() {
	case reflect.String, reflect.Int, reflect.Bool:
		return
	}
	if ft == addrType || ft == prefixType {
		return
	}
	panic(fmt.Sprintf("model: field %s.%s has unsupported type %s", t.Name(), f.Name, ft))
}

// scalarFromString converts a canonical value string to a value of type t.
func scalarFromString(s string, t reflect.Type) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	switch {
	case t == addrType:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return v, err
		}
		v.Set(reflect.ValueOf(a))
	case t == prefixType:
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return v, err
		}
		v.Set(reflect.ValueOf(p))
	case t.Kind() == reflect.String:
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		v.SetBool(s == "on")
	case t.Kind() == reflect.Int:
		var n int
		if _, err := fmt.Sscan(s, &n); err != nil {
			return v, err
		}
		v.SetInt(int64(n))
	}
	return v, nil
}

// scalarString is the inverse of scalarFromString.
func scalarString(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case netip.Addr:
		return x.String()
	case netip.Prefix:
		return x.String()
	}
	switch v.Kind() {
	case reflect.Bool:
		if v.Bool() {
			return "on"
		}
		return "off"
	case reflect.Int:
		return fmt.Sprint(v.Int())
	}
	return v.String()
}
