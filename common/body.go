package common

import "io"

// ReadSized reads r to its end as io.ReadAll(io.LimitReader(r, limit+1))
// would (more than limit bytes means too large), but into one buffer sized
// from size, a Content-Length (-1 when unknown), when that is within the
// limit: ReadAll grows its buffer from 512 bytes, copying it at each step,
// which leaves a large body's size several times over in garbage. A size
// that lies only costs a regrowth.
func ReadSized(r io.Reader, size, limit int64) ([]byte, error) {
	capacity := int64(512)
	if size >= 0 && size <= limit {
		capacity = size + 1 // room to see io.EOF without growing
	}
	b := make([]byte, 0, capacity)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := min(int64(cap(b)), limit+1) - int64(len(b))
		n, err := r.Read(b[len(b) : int64(len(b))+room])
		b = b[:len(b)+n]
		if err == io.EOF || int64(len(b)) > limit {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
