package egress_test

import (
	"fmt"
	"net/netip"

	"github.com/symflow/symflow/shared/egress"
)

func ExamplePolicy_Check() {
	var production egress.Policy // globally reachable addresses only
	local := egress.Policy{AllowLoopback: true}
	for _, a := range []string{"93.184.216.34:443", "10.0.0.7:80", "127.0.0.1:8080", "[::ffff:192.168.1.1]:80", "[64:ff9b::a9fe:a9fe]:80"} {
		ap := netip.MustParseAddrPort(a)
		fmt.Printf("%s\n  production: %v\n  local:      %v\n", a, production.Check(ap), local.Check(ap))
	}
	// Output:
	// 93.184.216.34:443
	//   production: <nil>
	//   local:      <nil>
	// 10.0.0.7:80
	//   production: refusing to connect to reserved address 10.0.0.7:80: private address (10.0.0.0/8)
	//   local:      refusing to connect to reserved address 10.0.0.7:80: private address (10.0.0.0/8)
	// 127.0.0.1:8080
	//   production: refusing to connect to reserved address 127.0.0.1:8080: loopback address (allowed only in local mode)
	//   local:      <nil>
	// [::ffff:192.168.1.1]:80
	//   production: refusing to connect to reserved address 192.168.1.1:80: private address (192.168.0.0/16)
	//   local:      refusing to connect to reserved address 192.168.1.1:80: private address (192.168.0.0/16)
	// [64:ff9b::a9fe:a9fe]:80
	//   production: refusing to connect to reserved address [64:ff9b::a9fe:a9fe]:80: cloud metadata address: instance metadata (AWS, GCP's metadata.google.internal, Azure, OpenStack, DigitalOcean, Oracle)
	//   local:      refusing to connect to reserved address [64:ff9b::a9fe:a9fe]:80: cloud metadata address: instance metadata (AWS, GCP's metadata.google.internal, Azure, OpenStack, DigitalOcean, Oracle)
}
