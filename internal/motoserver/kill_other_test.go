//go:build !unix

package motoserver

func processGroupAlive(int) bool { return false }
