//go:build !race

package memo_test

const raceEnabled = false
