// Command coredns is CoreDNS with the plugins of a one-node test cluster's Corefile and nothing else.
//
// The full build links some sixty plugins (cloud DNS providers, etcd, forward, ...); the cluster needs
// eight. Leaving out `forward` also means a query outside the cluster's zones is never sent upstream.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives is upstream's core/dnsserver/zdirectives.go reduced to the plugins above, in the same order:
// a plugin sees every request before the plugins listed after it.
var directives = []string{
	"reload",
	"ready",
	"health",
	"errors",
	"log",
	"loadbalance",
	"cache",
	"kubernetes",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
