// Command k8s-server is test infrastructure for scripts/k8s-cluster.sh: kube-apiserver, kube-controller-manager,
// kube-scheduler and kubelet in one binary (one link instead of four), chosen by the first argument.
package main

import (
	"context"
	"fmt"
	"os"
	_ "time/tzdata" // CronJob time zones, as the upstream mains have

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var components = map[string]func() *cobra.Command{
	"apiserver":          apiserver.NewAPIServerCommand,
	"controller-manager": controllermanager.NewControllerManagerCommand,
	"scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":            func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
}

func main() {
	if len(os.Args) < 2 || components[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: k8s-server apiserver|controller-manager|scheduler|kubelet [FLAGS]")
		os.Exit(2)
	}
	command := components[os.Args[1]]()
	// cobra reads os.Args[1:]: drop the subcommand so each component sees only its own flags.
	os.Args = append([]string{os.Args[0] + " " + os.Args[1]}, os.Args[2:]...)
	os.Exit(cli.Run(command))
}
