package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
)

func (a *cli) optionSetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set key=value|key:=JSON ...",
		Short: "Store settings; keys not given are kept",
		Example: `  bitrix24 option set theme=dark
  bitrix24 option set columns:='["id","title"]' page_size:=50`,
		Args: cobra.MinimumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			options, err := a.params("", args)
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				if err := c.UserOption.Set(ctx, options); err != nil {
					return err
				}
				keys := make([]string, 0, len(options))
				for k := range options {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				a.note("saved %s", strings.Join(keys, ", "))
				return nil
			})
		}),
	}
}

func (a *cli) optionGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get [key]",
		Short: "Print one setting, or every setting as an object",
		Long: `Print the value stored under key as JSON, or, without key, every stored setting as one
JSON object. A key that is not set exits with status 5.`,
		Args: cobra.MaximumNArgs(1),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				if len(args) == 0 {
					all, err := c.UserOption.GetAll(ctx)
					if err != nil {
						return err
					}
					return a.printer().valueOf(all)
				}
				var value json.RawMessage
				found, err := c.UserOption.Get(ctx, args[0], &value)
				if err != nil {
					return err
				}
				if !found {
					return notFoundError{fmt.Sprintf("option %q is not set", args[0])}
				}
				return a.printer().value(value)
			})
		}),
	}
}

func (a *cli) optionCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:   "option",
		Short: "Per-user application settings (user.option.*)",
		Long: `Per-user application settings: user.option.set and user.option.get. They belong to
the application and the user its token acts for, so they need OAuth credentials: a
webhook is refused with ACCESS_DENIED.`,
	}, a.optionSetCommand(), a.optionGetCommand())
}
