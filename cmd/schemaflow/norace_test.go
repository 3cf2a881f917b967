//go:build !race

package main

// raceDetector is set in binaries built with -race, whose exit takes
// longer: the race runtime finishes its reports.
const raceDetector = false
