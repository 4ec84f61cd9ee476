package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/b24go/bitrix24"
)

func (a *cli) fieldTypeCommand() *cobra.Command {
	return group(&cobra.Command{
		Use:     "fieldtype",
		Aliases: []string{"userfieldtype"},
		Short:   "Custom user-field types of the application (userfieldtype.*)",
		Long: `Custom user-field types: userfieldtype.add, update, list and delete. They need OAuth
credentials with the "placement" scope: a webhook is refused with WRONG_AUTH_TYPE.`,
	},
		a.fieldTypeWriteCommand("add", "Register a field type", "userfieldtype.add"),
		a.fieldTypeWriteCommand("update", "Change a field type (handler and title are required)", "userfieldtype.update"),
		a.fieldTypeListCommand(),
		a.fieldTypeDeleteCommand(),
	)
}

// fieldTypeRow is how a field type prints: the names of the flags.
type fieldTypeRow struct {
	ID          string `json:"id"`
	Handler     string `json:"handler"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Height      int    `json:"height"`
}

func (a *cli) fieldTypeWriteCommand(name, short, method string) *cobra.Command {
	var t bitrix24.UserFieldType
	cmd := &cobra.Command{
		Use:     name + " --id ID --handler URL --title TITLE [--description TEXT] [--height PX]",
		Short:   short + " (" + method + ")",
		Example: "  bitrix24 fieldtype " + name + " --id rating --handler https://app.example.com/uf/rating --title Rating --height 60",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				write := c.UserFieldType.Update
				if name == "add" {
					write = c.UserFieldType.Add
				}
				if err := write(ctx, t); err != nil {
					return err
				}
				a.note("%s: %s", method, t.UserTypeID)
				return nil
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&t.UserTypeID, "id", "", "USER_TYPE_ID: a-z and 0-9 only")
	f.StringVar(&t.Handler, "handler", "", "HANDLER: the absolute http(s) URL that renders the field")
	f.StringVar(&t.Title, "title", "", "TITLE")
	f.StringVar(&t.Description, "description", "", "DESCRIPTION")
	f.IntVar(&t.Height, "height", 0, "OPTIONS.height in pixels (0: the standard height)")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}

func (a *cli) fieldTypeListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "Print the application's field types, one JSON line each (userfieldtype.list)",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				types, err := c.UserFieldType.List(ctx)
				if err != nil {
					return err
				}
				p := a.printer()
				for _, t := range types {
					if err := p.rowOf(fieldTypeRow{t.UserTypeID, t.Handler, t.Title, t.Description, t.Height}); err != nil {
						return err
					}
				}
				if len(types) == 0 {
					a.note("no field types")
				}
				return p.flush()
			})
		}),
	}
}

func (a *cli) fieldTypeDeleteCommand() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "delete --id ID",
		Short: "Remove a field type (userfieldtype.delete)",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *bitrix24.Client) error {
				if err := c.UserFieldType.Delete(ctx, id); err != nil {
					return err
				}
				a.note("userfieldtype.delete: %s", id)
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&id, "id", "", "USER_TYPE_ID")
	_ = cmd.MarkFlagRequired("id")
	return cmd
}
