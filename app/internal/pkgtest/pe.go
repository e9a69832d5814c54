package pkgtest

import (
	"debug/pe"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Resource types (winuser.h).
const (
	rtIcon      = 3
	rtGroupIcon = 14
	rtVersion   = 16
	rtManifest  = 24
)

// Resources is a PE file's resource tree: type → name → language → data.
// Names are "#<id>" for numeric IDs (as in "#32512") and the string for
// named resources (as in "APP").
type Resources map[string]map[string]map[uint16][]byte

// ID is the Resources key of a numeric resource type or name.
func ID(n int) string { return fmt.Sprintf("#%d", n) }

// ReadResources walks the resource directory (data directory 2) of f.
func ReadResources(f *pe.File) (Resources, error) {
	var dir pe.DataDirectory
	switch h := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		if h.NumberOfRvaAndSizes > pe.IMAGE_DIRECTORY_ENTRY_RESOURCE {
			dir = h.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
		}
	case *pe.OptionalHeader32:
		if h.NumberOfRvaAndSizes > pe.IMAGE_DIRECTORY_ENTRY_RESOURCE {
			dir = h.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
		}
	}
	if dir.Size == 0 {
		return nil, fmt.Errorf("the executable has no resources (empty resource data directory)")
	}
	var sect *pe.Section
	for _, s := range f.Sections {
		if dir.VirtualAddress >= s.VirtualAddress && dir.VirtualAddress < s.VirtualAddress+max(s.VirtualSize, s.Size) {
			sect = s
		}
	}
	if sect == nil {
		return nil, fmt.Errorf("no section holds the resource directory at RVA %#x", dir.VirtualAddress)
	}
	raw, err := sect.Data()
	if err != nil {
		return nil, fmt.Errorf("reading section %s: %w", sect.Name, err)
	}
	r := &rsrcReader{data: raw[dir.VirtualAddress-sect.VirtualAddress:], rva: dir.VirtualAddress, section: raw, sectionRVA: sect.VirtualAddress}
	out := Resources{}
	types, err := r.dir(0)
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if !t.sub {
			return nil, fmt.Errorf("resource type %s is a leaf, not a directory", t.name)
		}
		names, err := r.dir(t.off)
		if err != nil {
			return nil, err
		}
		out[t.name] = map[string]map[uint16][]byte{}
		for _, n := range names {
			if !n.sub {
				return nil, fmt.Errorf("resource %s/%s is a leaf, not a directory", t.name, n.name)
			}
			langs, err := r.dir(n.off)
			if err != nil {
				return nil, err
			}
			out[t.name][n.name] = map[uint16][]byte{}
			for _, l := range langs {
				if l.sub {
					return nil, fmt.Errorf("resource %s/%s/%d is a directory, not data", t.name, n.name, l.id)
				}
				data, err := r.leaf(l.off)
				if err != nil {
					return nil, fmt.Errorf("resource %s/%s/%d: %w", t.name, n.name, l.id, err)
				}
				out[t.name][n.name][l.id] = data
			}
		}
	}
	return out, nil
}

type rsrcReader struct {
	data       []byte // from the resource directory on
	rva        uint32
	section    []byte
	sectionRVA uint32
}

type rsrcEntry struct {
	name string // "#id" or the name
	id   uint16
	sub  bool
	off  uint32
}

func (r *rsrcReader) u16(off uint32) (uint16, error) {
	if int(off)+2 > len(r.data) {
		return 0, fmt.Errorf("resource directory truncated at %#x", off)
	}
	return binary.LittleEndian.Uint16(r.data[off:]), nil
}

func (r *rsrcReader) u32(off uint32) (uint32, error) {
	if int(off)+4 > len(r.data) {
		return 0, fmt.Errorf("resource directory truncated at %#x", off)
	}
	return binary.LittleEndian.Uint32(r.data[off:]), nil
}

// dir reads an IMAGE_RESOURCE_DIRECTORY and its entries.
func (r *rsrcReader) dir(off uint32) ([]rsrcEntry, error) {
	named, err := r.u16(off + 12)
	if err != nil {
		return nil, err
	}
	ids, err := r.u16(off + 14)
	if err != nil {
		return nil, err
	}
	var out []rsrcEntry
	for i := uint32(0); i < uint32(named)+uint32(ids); i++ {
		e := off + 16 + 8*i
		nameField, err := r.u32(e)
		if err != nil {
			return nil, err
		}
		offField, err := r.u32(e + 4)
		if err != nil {
			return nil, err
		}
		ent := rsrcEntry{sub: offField&0x80000000 != 0, off: offField & 0x7fffffff}
		if nameField&0x80000000 != 0 {
			p := nameField & 0x7fffffff
			n, err := r.u16(p)
			if err != nil {
				return nil, err
			}
			if int(p)+2+2*int(n) > len(r.data) {
				return nil, fmt.Errorf("resource name at %#x truncated", p)
			}
			ent.name = decodeUTF16(r.data[p+2 : p+2+2*uint32(n)])
		} else {
			ent.id = uint16(nameField)
			ent.name = ID(int(ent.id))
		}
		out = append(out, ent)
	}
	return out, nil
}

// leaf reads an IMAGE_RESOURCE_DATA_ENTRY and returns the data it points to.
func (r *rsrcReader) leaf(off uint32) ([]byte, error) {
	rva, err := r.u32(off)
	if err != nil {
		return nil, err
	}
	size, err := r.u32(off + 4)
	if err != nil {
		return nil, err
	}
	if rva < r.sectionRVA || int(rva-r.sectionRVA)+int(size) > len(r.section) {
		return nil, fmt.Errorf("data at RVA %#x (%d bytes) lies outside the resource section", rva, size)
	}
	return r.section[rva-r.sectionRVA : rva-r.sectionRVA+size], nil
}

func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), "\x00")
}

// IconImage is one image of an icon group (GRPICONDIRENTRY).
type IconImage struct {
	Width, Height int // 256 where the entry says 0
	BitCount      int
	Size          int // bytes of the RT_ICON resource
	ID            int // the RT_ICON resource holding the image
}

// ParseIconGroup decodes an RT_GROUP_ICON resource (GRPICONDIR).
func ParseIconGroup(b []byte) ([]IconImage, error) {
	if len(b) < 6 || binary.LittleEndian.Uint16(b[2:]) != 1 {
		return nil, fmt.Errorf("not an icon group (GRPICONDIR type 1)")
	}
	n := int(binary.LittleEndian.Uint16(b[4:]))
	if len(b) < 6+14*n {
		return nil, fmt.Errorf("icon group of %d images truncated at %d bytes", n, len(b))
	}
	var out []IconImage
	for i := range n {
		e := b[6+14*i:]
		w, h := int(e[0]), int(e[1])
		if w == 0 {
			w = 256
		}
		if h == 0 {
			h = 256
		}
		out = append(out, IconImage{
			Width: w, Height: h,
			BitCount: int(binary.LittleEndian.Uint16(e[6:])),
			Size:     int(binary.LittleEndian.Uint32(e[8:])),
			ID:       int(binary.LittleEndian.Uint16(e[12:])),
		})
	}
	return out, nil
}

// VersionNode is one node of a VS_VERSIONINFO tree (VS_VERSIONINFO,
// StringFileInfo, StringTable, String, VarFileInfo, Var).
type VersionNode struct {
	Key      string
	Text     bool   // wType 1: Value is UTF-16 text
	Value    []byte // raw value bytes
	Children []VersionNode
}

// String returns a text node's value.
func (n VersionNode) String() string { return decodeUTF16(n.Value) }

// ParseVersion decodes an RT_VERSION resource.
func ParseVersion(b []byte) (VersionNode, error) {
	n, _, err := parseVersionNode(b, 0)
	return n, err
}

func align4(n int) int { return (n + 3) &^ 3 }

func parseVersionNode(b []byte, off int) (VersionNode, int, error) {
	if off+6 > len(b) {
		return VersionNode{}, 0, fmt.Errorf("version resource truncated at %d", off)
	}
	length := int(binary.LittleEndian.Uint16(b[off:]))
	valueLen := int(binary.LittleEndian.Uint16(b[off+2:]))
	typ := binary.LittleEndian.Uint16(b[off+4:])
	end := off + length
	if length < 6 || end > len(b) {
		return VersionNode{}, 0, fmt.Errorf("version node at %d claims %d bytes of %d", off, length, len(b)-off)
	}
	p := off + 6
	k := p
	for k+1 < end && (b[k] != 0 || b[k+1] != 0) {
		k += 2
	}
	n := VersionNode{Key: decodeUTF16(b[p:k]), Text: typ == 1}
	p = align4(k + 2)
	if n.Text {
		valueLen *= 2
	}
	if p+valueLen > end {
		return VersionNode{}, 0, fmt.Errorf("version node %q: value overruns the node", n.Key)
	}
	n.Value = b[p : p+valueLen]
	p = align4(p + valueLen)
	for p < end {
		c, cl, err := parseVersionNode(b, p)
		if err != nil {
			return VersionNode{}, 0, err
		}
		n.Children = append(n.Children, c)
		p = align4(p + cl)
	}
	return n, length, nil
}

// FixedFileInfo is the VS_FIXEDFILEINFO of a version resource.
type FixedFileInfo struct {
	FileVersion, ProductVersion [4]uint16
	FileType                    uint32 // 1: VFT_APP
}

// Fixed decodes the root node's VS_FIXEDFILEINFO.
func (n VersionNode) Fixed() (FixedFileInfo, error) {
	v := n.Value
	if len(v) < 52 || binary.LittleEndian.Uint32(v) != 0xFEEF04BD {
		return FixedFileInfo{}, fmt.Errorf("no VS_FIXEDFILEINFO (signature 0xFEEF04BD) in %q", n.Key)
	}
	u := func(i int) uint32 { return binary.LittleEndian.Uint32(v[i:]) }
	split := func(ms, ls uint32) [4]uint16 {
		return [4]uint16{uint16(ms >> 16), uint16(ms), uint16(ls >> 16), uint16(ls)}
	}
	return FixedFileInfo{
		FileVersion:    split(u(8), u(12)),
		ProductVersion: split(u(16), u(20)),
		FileType:       u(36),
	}, nil
}

// Strings returns every String of every StringTable: table key (language
// and code page, e.g. "040904b0") → name → value.
func (n VersionNode) Strings() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, sfi := range n.Children {
		if sfi.Key != "StringFileInfo" {
			continue
		}
		for _, table := range sfi.Children {
			m := map[string]string{}
			for _, s := range table.Children {
				m[s.Key] = s.String()
			}
			out[strings.ToLower(table.Key)] = m
		}
	}
	return out
}
