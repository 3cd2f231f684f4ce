// Command images memoizes a loader of large images with memo.MemoizeWeak:
// callers that view the same image share one copy, and once nobody holds an
// image any more the garbage collector reclaims it and its cache entry goes
// with it. It prints the heap at each step, read with runtime.MemStats.
//
//	go run ./examples/images
package main

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/go-memo/memo"
)

// Image is a decoded image: 1 MiB of pixels.
type Image struct {
	Name   string
	Pixels []byte
}

const imageSize = 1 << 20

var renders atomic.Int64

// decode stands for reading and decoding an image file: slow and big.
func decode(_ context.Context, name string) (*Image, error) {
	renders.Add(1)
	time.Sleep(2 * time.Millisecond)
	img := &Image{Name: name, Pixels: make([]byte, imageSize)}
	for i := range img.Pixels {
		img.Pixels[i] = byte(i) ^ name[0]
	}
	return img, nil
}

// heapMiB runs the collector, gives the runtime a moment to run the
// cleanups it queued, and returns the live heap.
func heapMiB() float64 {
	var ms runtime.MemStats
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

func main() {
	ctx := context.Background()
	images := memo.MemoizeWeak(decode)
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprintf("photo-%02d.png", i)
	}
	fmt.Printf("start: heap %.1f MiB\n", heapMiB())

	// A viewer opens an album of 40 images and keeps them on screen.
	viewerA := make([]*Image, len(names))
	for i, n := range names {
		viewerA[i], _ = images.Get(ctx, n)
	}
	fmt.Printf("viewer A holds 40 images: heap %.1f MiB, %d decodes, %d entries\n",
		heapMiB(), renders.Load(), images.Len())

	// A second viewer opens the same album: every image is shared, none decoded again.
	viewerB := make([]*Image, len(names))
	shared := 0
	for i, n := range names {
		viewerB[i], _ = images.Get(ctx, n)
		if viewerB[i] == viewerA[i] {
			shared++
		}
	}
	fmt.Printf("viewer B opens the same album: %d of 40 are the very same *Image, heap %.1f MiB, still %d decodes\n",
		shared, heapMiB(), renders.Load())

	// Viewer A closes; B still holds everything, so nothing is reclaimed.
	viewerA = nil
	fmt.Printf("viewer A closes: heap %.1f MiB, %d entries (B still holds them)\n", heapMiB(), images.Len())

	// Viewer B closes too: nothing holds the images, the collector reclaims
	// them, and their entries leave the memo on their own.
	runtime.KeepAlive(viewerB)
	viewerB = nil
	fmt.Printf("viewer B closes: heap %.1f MiB, %d entries, %d collected\n",
		heapMiB(), images.Len(), images.Stats().Collected)

	// Opening an image again decodes it again.
	again, _ := images.Get(ctx, names[0])
	fmt.Printf("reopen %s: %d decodes in all\n", again.Name, renders.Load())
	runtime.KeepAlive(again)

	// With a strong window, the 5 most recently used images stay in memory
	// even while nobody holds them: a hot thumbnail survives a collection.
	recent := memo.MemoizeWeak(decode, memo.WithCapacity(5))
	for _, n := range names {
		_, _ = recent.Get(ctx, n) // viewed and closed at once
	}
	fmt.Printf("\nwith WithCapacity(5): 40 images viewed and closed: heap %.1f MiB, %d entries kept (%v)\n",
		heapMiB(), recent.Len(), recent.Stats())
}
