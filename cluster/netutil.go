package cluster

import (
	"errors"
	"net"
)

// privateIP returns the first non-loopback IPv4 address of this host,
// falling back to 127.0.0.1 on a host with none.
func privateIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", errors.Join(errors.New("list interface addresses"), err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil {
			continue
		}
		return ipn.IP.String(), nil
	}
	return "127.0.0.1", nil
}
