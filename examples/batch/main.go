// Command batch resolves the author of each post on a page, the way a GraphQL
// server does: one goroutine per post, each asking for one author. The
// authors live in a fake database where every query costs a round trip, holds
// one of a pool of 10 connections, and is counted. It shows the queries and the time taken three ways: calling
// the database per post, through Memoize (one query per distinct author),
// and through MemoizeBatch (the concurrent misses share one query).
//
//	go run ./examples/batch
package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-memo/memo"
)

const (
	posts      = 200
	authors    = 40
	roundTrip  = 2 * time.Millisecond
	maxIDs     = 100 // per query, as an IN (...) list
	batchDelay = time.Millisecond
	conns      = 10 // the connection pool: queries beyond it wait for a connection
)

// db is a fake database of authors. Each query takes a connection from the
// pool and costs one round trip, whatever the number of ids it asks for.
type db struct {
	queries atomic.Int64
	pool    chan struct{}
}

func newDB() *db { return &db{pool: make(chan struct{}, conns)} }

func (d *db) round(ctx context.Context) error {
	d.queries.Add(1)
	select {
	case d.pool <- struct{}{}:
		defer func() { <-d.pool }()
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-time.After(roundTrip):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// authorByID is SELECT name FROM authors WHERE id = $1.
func (d *db) authorByID(ctx context.Context, id int) (string, error) {
	if err := d.round(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("author-%02d", id), nil
}

// authorsByIDs is SELECT id, name FROM authors WHERE id IN (...).
func (d *db) authorsByIDs(ctx context.Context, ids []int) (map[int]string, error) {
	if err := d.round(ctx); err != nil {
		return nil, err
	}
	names := make(map[int]string, len(ids))
	for _, id := range ids {
		names[id] = fmt.Sprintf("author-%02d", id)
	}
	return names, nil
}

// resolvePage resolves the author of every post, one goroutine per post, and
// returns how long it took.
func resolvePage(author func(context.Context, int) (string, error)) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for post := range posts {
		wg.Go(func() {
			if _, err := author(context.Background(), post%authors); err != nil {
				panic(err)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

func main() {
	fmt.Printf("%d posts by %d authors, %v per query, %d connections\n\n", posts, authors, roundTrip, conns)
	report := func(name string, d *db, took time.Duration) {
		fmt.Printf("%-28s %4d queries  %v\n", name, d.queries.Swap(0), took.Round(10*time.Microsecond))
	}

	plain := newDB()
	report("no memo:", plain, resolvePage(plain.authorByID))

	perKey := newDB()
	m := memo.Memoize(perKey.authorByID)
	report("Memoize:", perKey, resolvePage(m.Get))

	batched := newDB()
	b := memo.MemoizeBatch(batched.authorsByIDs, memo.WithBatch(maxIDs, batchDelay))
	report("MemoizeBatch:", batched, resolvePage(b.Get))
	report("MemoizeBatch, next page:", batched, resolvePage(b.Get))

	st := b.Stats()
	fmt.Printf("\nMemoizeBatch: %d calls of fn for %d keys; %s\n", st.Loads, st.Misses-st.Shared, st)
}
