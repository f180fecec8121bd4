package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// The file format, version 2, little-endian, varints as encoding/binary:
//
//	"MRHIST" version(1 byte)
//	key: uvarint length, bytes
//	newest sample: varint Unix nanoseconds (0: none)
//	tiers: uvarint count, then per tier:
//	  step seconds uvarint, length uvarint, closed count uvarint,
//	  newest slot varint, open bucket (a bucket, then its slot varint
//	  when it holds samples), closed buckets oldest first
//	CRC-32C of everything before it, 4 bytes
//
// A bucket is its sample count (uvarint; 0 is a gap and ends it), the
// known mask (1 byte), and per known component the mean as a zigzag delta
// from the previous bucket's mean of that component and the minimum as
// mean-min, then the peak as peak-mean of Current (or the peak when Current
// is not known), all in KiB. Neighbouring means differ little, so most
// figures take one or two bytes.
//
// The closed buckets of tiers past the first hold what those tiers keep
// (cpoint): the sample count (0 ends a gap), the known mask, per known
// component the minimum as a zigzag delta from the previous bucket's
// minimum of that component, then the mean of Current (when known) and
// of Anon (when known) as mean-min. A full default series is ~7 KiB.
//
// Version 1 is version 2 with every tier's buckets in the first form; it
// is read, and written back as version 2 at the next save.
const (
	magic        = "MRHIST"
	fileVersion  = 2
	maxKeyLen    = 4096
	crcSize      = 4
	allComponent = 1<<NumComponents - 1
)

// The largest file encode can write, from the bounds decode enforces: a
// reader refuses anything larger without reading it. Sizes are of the
// numbers' varint forms at their largest (7 bits a byte).
const (
	// maxPointSize: sample count (at most 65535: 3 bytes), known mask, per
	// component a mean delta and a mean-minus-minimum (each within ±2^32:
	// 5 bytes), the peak (5 bytes).
	maxPointSize = 3 + 1 + int(NumComponents)*(5+5) + 5
	// maxTierSize: step (at most 2^32: 5 bytes), length and point count
	// (at most maxTierLen: 2 bytes each), newest slot, the open bucket and
	// its slot, then the points.
	maxTierSize = 5 + 2 + 2 + binary.MaxVarintLen64 + maxPointSize + binary.MaxVarintLen64 + maxTierLen*maxPointSize
	// maxFileSize is about 1.1 MiB with 4 full tiers of 4,096 points; a
	// default series (408 points) takes about 7 KiB. Version 1 files,
	// larger than version 2, set the bound: they are still read.
	maxFileSize = len(magic) + 1 + 2 + maxKeyLen + binary.MaxVarintLen64 + 1 + maxTiers*maxTierSize + crcSize
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Field names for decode errors, built once so decoding a bucket does not
// allocate them.
var meanNames, minNames = func() (m, n [NumComponents]string) {
	for c := range NumComponents {
		m[c], n[c] = "mean of "+c.String(), "minimum of "+c.String()
	}
	return m, n
}()

// encode appends s's file form to dst.
func encode(dst []byte, s *Series) []byte { return encodeVersion(dst, s, fileVersion) }

// encodeVersion appends s's file form in version 1 or 2 (tests write
// version 1 to hold the reader to it).
func encodeVersion(dst []byte, s *Series, version byte) []byte {
	dst = append(dst, magic...)
	dst = append(dst, version)
	dst = binary.AppendUvarint(dst, uint64(len(s.key)))
	dst = append(dst, s.key...)
	var last int64
	if !s.last.IsZero() {
		last = s.last.UnixNano()
	}
	dst = binary.AppendVarint(dst, last)
	dst = binary.AppendUvarint(dst, uint64(len(s.tiers)))
	for i := range s.tiers {
		t := &s.tiers[i]
		dst = binary.AppendUvarint(dst, uint64(t.step))
		dst = binary.AppendUvarint(dst, uint64(t.length))
		dst = binary.AppendUvarint(dst, uint64(t.count))
		dst = binary.AppendVarint(dst, t.lastSlot)
		var prev [NumComponents]uint32
		open := t.open.point()
		dst = appendPoint(dst, &open, &prev)
		if open.n > 0 {
			dst = binary.AppendVarint(dst, t.openSlot)
		}
		prev = [NumComponents]uint32{}
		for j := range t.count {
			p, _ := t.at(j)
			if version >= 2 && i > 0 {
				dst = appendCompact(dst, &p, &prev)
			} else {
				dst = appendPoint(dst, &p, &prev)
			}
		}
	}
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst, castagnoli))
}

func appendPoint(dst []byte, p *point, prev *[NumComponents]uint32) []byte {
	dst = binary.AppendUvarint(dst, uint64(p.n))
	if p.n == 0 {
		return dst
	}
	dst = append(dst, p.known)
	for c := range NumComponents {
		if p.known&(1<<c) == 0 {
			continue
		}
		dst = binary.AppendVarint(dst, int64(p.mean[c])-int64(prev[c]))
		dst = binary.AppendUvarint(dst, uint64(int64(p.mean[c])-int64(p.min[c])))
		prev[c] = p.mean[c]
	}
	if p.known&(1<<Current) != 0 {
		return binary.AppendVarint(dst, int64(p.peak)-int64(p.mean[Current]))
	}
	return binary.AppendVarint(dst, int64(p.peak))
}

// appendCompact appends the form of a bucket of a tier past the first.
func appendCompact(dst []byte, p *point, prev *[NumComponents]uint32) []byte {
	dst = binary.AppendUvarint(dst, uint64(p.n))
	if p.n == 0 {
		return dst
	}
	dst = append(dst, p.known)
	for c := range NumComponents {
		if p.known&(1<<c) == 0 {
			continue
		}
		dst = binary.AppendVarint(dst, int64(p.min[c])-int64(prev[c]))
		prev[c] = p.min[c]
	}
	for _, c := range []Component{Current, Anon} {
		if p.known&(1<<c) != 0 {
			dst = binary.AppendUvarint(dst, uint64(p.mean[c]-p.min[c]))
		}
	}
	return dst
}

// decoder reads a file form, remembering the first error with the byte
// offset it happened at.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(what string, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("byte %d: %s: %s", d.off, what, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail(what, "truncated or overlong number")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail(what, "truncated or overlong number")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail(what, "truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

// kibValue checks that a decoded figure fits a bucket.
func (d *decoder) kibValue(what string, v int64) uint32 {
	if v < 0 || v > math.MaxUint32 {
		d.fail(what, "value %d out of range", v)
		return 0
	}
	return uint32(v)
}

// bucketHeader reads what both bucket formats begin with: the sample count
// and the known components. false means the bucket is empty or bad, and p
// is complete as it is.
func (d *decoder) bucketHeader(p *point) bool {
	n := d.uvarint("bucket samples")
	if n > math.MaxUint16 {
		d.fail("bucket samples", "%d is more than a bucket holds", n)
	}
	if n == 0 || d.err != nil {
		return false
	}
	p.n = uint16(n)
	p.known = d.byte("known components")
	if p.known&^allComponent != 0 {
		d.fail("known components", "unknown bits in %#x", p.known)
		return false
	}
	return true
}

func (d *decoder) point(prev *[NumComponents]uint32) point {
	var p point
	if !d.bucketHeader(&p) {
		return p
	}
	for c := range NumComponents {
		if p.known&(1<<c) == 0 {
			continue
		}
		p.mean[c] = d.kibValue(meanNames[c], int64(prev[c])+d.varint(meanNames[c]))
		below := d.uvarint(minNames[c])
		if below > uint64(p.mean[c]) {
			d.fail(minNames[c], "above the mean")
		}
		p.min[c] = p.mean[c] - uint32(min(below, uint64(p.mean[c])))
		prev[c] = p.mean[c]
	}
	base := int64(0)
	if p.known&(1<<Current) != 0 {
		base = int64(p.mean[Current])
	}
	p.peak = d.kibValue("peak", base+d.varint("peak"))
	return p
}

// compactPoint reads a bucket written by appendCompact, as cpoint.expand
// gives it.
func (d *decoder) compactPoint(prev *[NumComponents]uint32) point {
	var p point
	if !d.bucketHeader(&p) {
		return p
	}
	for c := range NumComponents {
		if p.known&(1<<c) == 0 {
			continue
		}
		p.min[c] = d.kibValue(minNames[c], int64(prev[c])+d.varint(minNames[c]))
		p.mean[c] = p.min[c]
		prev[c] = p.min[c]
	}
	for _, c := range []Component{Current, Anon} {
		if p.known&(1<<c) != 0 {
			above := d.uvarint(meanNames[c])
			p.mean[c] = d.kibValue(meanNames[c], int64(p.min[c])+int64(min(above, math.MaxUint32+1)))
		}
	}
	p.peak = p.mean[Current]
	return p
}

// decoded is a file's content before it is fitted to a Series.
type decoded struct {
	key   string
	last  time.Time
	tiers []decodedTier
}

type decodedTier struct {
	step     int64
	length   int
	lastSlot int64
	open     point
	openSlot int64
	// The closed buckets, oldest first: in cpts when the file holds them
	// compact (tiers past the first, from version 2), else in pts.
	pts  []fpoint
	cpts []cpoint
}

// len is the number of closed buckets dt holds.
func (dt *decodedTier) len() int { return len(dt.pts) + len(dt.cpts) }

// at returns dt's i-th closed bucket from the oldest, as a point.
func (dt *decodedTier) at(i int) point {
	if dt.pts != nil {
		return dt.pts[i].expand()
	}
	return dt.cpts[i].expand()
}

// decode parses a file form. It trusts nothing: every length is bounded
// before it is used, and the checksum must match.
func decode(b []byte) (decoded, error) {
	var out decoded
	if len(b) < len(magic)+1+crcSize {
		return out, errors.New("too short to be a history file")
	}
	if string(b[:len(magic)]) != magic {
		return out, errors.New("not a memrelief history file (bad magic)")
	}
	version := b[len(magic)]
	if version != 1 && version != fileVersion {
		return out, fmt.Errorf("history file version %d, this memrelief reads 1 to %d", version, fileVersion)
	}
	body := b[:len(b)-crcSize]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(body):]); got != want {
		return out, fmt.Errorf("checksum %08x, file says %08x: truncated or damaged", got, want)
	}
	d := &decoder{b: body, off: len(magic) + 1}
	kl := d.uvarint("key length")
	if d.err == nil && (kl == 0 || kl > maxKeyLen || kl > uint64(len(body)-d.off)) {
		d.fail("key length", "%d out of range", kl)
	}
	if d.err != nil {
		return out, d.err
	}
	out.key = string(body[d.off : d.off+int(kl)])
	d.off += int(kl)
	if ns := d.varint("newest sample"); ns != 0 {
		out.last = time.Unix(0, ns)
	}
	nt := d.uvarint("tier count")
	if d.err == nil && (nt == 0 || nt > maxTiers) {
		d.fail("tier count", "%d out of range", nt)
	}
	for i := range nt {
		if d.err != nil {
			break
		}
		// From version 2, tiers past the first hold compact buckets.
		compact := version >= 2 && i > 0
		var t decodedTier
		step := d.uvarint("tier step")
		length := d.uvarint("tier length")
		count := d.uvarint("tier points")
		t.lastSlot = d.varint("tier newest slot")
		if d.err == nil && (step == 0 || step > 1<<32 || length < 2 || length > maxTierLen || count > length) {
			d.fail("tier", "step %d, length %d, points %d out of range", step, length, count)
		}
		t.step, t.length = int64(step), int(length)
		var prev [NumComponents]uint32
		t.open = d.point(&prev)
		if t.open.n > 0 {
			t.openSlot = d.varint("open slot")
		}
		if d.err != nil {
			break
		}
		prev = [NumComponents]uint32{}
		if compact {
			t.cpts = make([]cpoint, 0, count)
		} else {
			t.pts = make([]fpoint, 0, count)
		}
		for range count {
			if compact {
				p := d.compactPoint(&prev)
				t.cpts = append(t.cpts, compactPoint(&p))
			} else {
				p := d.point(&prev)
				t.pts = append(t.pts, finePoint(&p))
			}
			if d.err != nil {
				break
			}
		}
		if d.err == nil && t.open.n > 0 && count > 0 && t.openSlot <= t.lastSlot {
			d.fail("open slot", "%d is not after the newest closed slot %d", t.openSlot, t.lastSlot)
		}
		out.tiers = append(out.tiers, t)
	}
	if d.err == nil && d.off != len(body) {
		d.fail("end", "%d bytes left over", len(body)-d.off)
	}
	return out, d.err
}

// restore fills s (fresh, same key) from a decoded file. Tiers are matched
// by step, so a change of lengths keeps the newest points; a tier the
// file lacks is resampled from the file's finer tier whose step divides
// its own (an hourly 14-day tier of an older default fills a 4-hour one),
// else starts empty. The buckets decoded in the form the tier keeps
// become its storage, not copied (loading 1,000 series then leaves no
// second copy of each behind for the collector): d must not be restored
// into another series.
func (s *Series) restore(d decoded) {
	s.last = d.last
	for i := range s.tiers {
		t := &s.tiers[i]
		var from *decodedTier
		for j := range d.tiers {
			dt := &d.tiers[j]
			if dt.step == t.step {
				from = dt
				break
			}
			if dt.step < t.step && t.step%dt.step == 0 && (from == nil || dt.step > from.step) {
				from = dt
			}
		}
		switch {
		case from == nil:
		case from.step == t.step:
			t.restore(from)
		default:
			t.resample(from)
		}
	}
}

func (t *tier) restore(dt *decodedTier) {
	// Storage for what the file holds and no more: the ring grows from
	// there as buckets close. A file holding more than the tier keeps (its
	// length was shortened, as 1h/14d became 1h/2d) is copied, so the
	// decoded buckets the tier drops are not kept alive behind it.
	n := dt.len()
	switch {
	case t.compact && dt.pts == nil && n <= t.length:
		t.adopt(nil, dt.cpts)
	case !t.compact && dt.cpts == nil && n <= t.length:
		t.adopt(dt.pts, nil)
	default:
		pts := make([]point, 0, min(n, t.length))
		for i := max(0, n-t.length); i < n; i++ {
			pts = append(pts, dt.at(i))
		}
		t.load(pts)
	}
	t.lastSlot = dt.lastSlot
	t.open = acc{}
	if dt.open.n > 0 {
		t.open = accFrom(&dt.open)
		t.openSlot = dt.openSlot
	}
}

// resample fills the empty tier t from dt, a finer tier whose step divides
// t's: each of t's buckets merges the ones of dt it covers (minimum of
// minima, mean of means weighted by samples, largest peak), and the newest
// stays open, as its time may not be over.
func (t *tier) resample(dt *decodedTier) {
	ratio := t.step / dt.step
	var cur acc
	var curSlot int64
	fold := func(p *point, slot int64) {
		if p.n == 0 {
			return
		}
		ts := floorDiv(slot, ratio)
		if cur.n > 0 && ts != curSlot {
			t.push(cur.point(), curSlot)
			cur = acc{}
		}
		cur.merge(p)
		curSlot = ts
	}
	n := dt.len()
	for i := range n {
		p := dt.at(i)
		fold(&p, dt.lastSlot-int64(n-1-i))
	}
	fold(&dt.open, dt.openSlot)
	t.open, t.openSlot = cur, curSlot
}

// merge folds a closed bucket into a, as if its samples had been added.
func (a *acc) merge(p *point) {
	if p.n == 0 {
		return
	}
	if a.n == 0 {
		*a = accFrom(p)
		return
	}
	b := accFrom(p)
	a.known &= b.known
	a.n += b.n
	a.peak = max(a.peak, b.peak)
	for c := range NumComponents {
		a.sum[c] += b.sum[c]
		a.min[c] = min(a.min[c], b.min[c])
	}
}

// accFrom reopens a bucket saved while it was filling.
func accFrom(p *point) acc {
	a := acc{n: uint32(p.n), known: p.known, peak: uint64(p.peak) * kib}
	for c := range NumComponents {
		a.sum[c] = float64(p.mean[c]) * kib * float64(p.n)
		a.min[c] = uint64(p.min[c]) * kib
	}
	return a
}
