package testutil

import "net"

// FreePort is a local TCP port nothing listens on now, for a server a test
// or benchmark starts (a manager's webhook).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
