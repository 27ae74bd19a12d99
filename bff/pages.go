package bff

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"github.com/staircase/staircase/internal/httpapi"
	"github.com/staircase/staircase/internal/order"
	"github.com/staircase/staircase/web"
)

func (s *Server) pageRoutes(r fiber.Router) {
	r.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/orders", http.StatusSeeOther) })
	r.Get("/orders", s.ordersPage)
	r.Get("/orders/new", s.newOrderPage)
	r.Get("/orders/new/line", s.lineFragment)
	r.Post("/orders", s.fenceWrites, s.placeOrder)
	r.Get("/orders/:id", s.orderPage)
	r.Get("/orders/:id/edit", s.editLinesPage)
	r.Post("/orders/:id/lines", s.fenceWrites, s.changeLines)
	r.Post("/orders/:id/:action<regex(^(ship|deliver|cancel|delete)$)>", s.fenceWrites, s.orderAction)
	r.Get("/dashboard", s.dashboardPage)
	r.Get("/architecture", s.architecturePage)
	r.Get("/architecture/source", s.sourcePage)
	r.Get("/architecture/live", s.architectureLive)
	r.Post("/stage", s.requireAdmin, s.switchStage)
	s.adminPageRoutes(r)
}

// stage returns the stage the request started on, and its number.
func (s *Server) stage(c *fiber.Ctx) (int, Stage) {
	n := c.Locals(localStage).(int)
	return n, s.cfg.Switch.stages[n]
}

func (s *Server) render(c *fiber.Ctx, status int, comp templ.Component) error {
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Vary("HX-Request", "HX-Target")
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

func (s *Server) chrome(c *fiber.Ctx, title, nav string) web.Chrome {
	n, _ := c.Locals(localStage).(int)
	token, _ := c.Locals(localCSRF).(string)
	ch := web.Chrome{Title: title, ActiveNav: nav, CSRFToken: token, Stage: s.badge(n)}
	for _, k := range s.cfg.Switch.Numbers() {
		ch.Stages = append(ch.Stages, web.StageOption{Number: k, Label: "Stage " + strconv.Itoa(k) + " · " + s.cfg.Descriptions[k].Name, Selected: k == n})
	}
	ch.Flash = flashes[c.Query("done")]
	if c.Query("done") == "stage" {
		ch.Flash = s.switchedFlash(n)
	}
	return ch
}

// badge is stage n as the header and the pages name it.
func (s *Server) badge(n int) web.StageBadge {
	d := s.cfg.Descriptions[n]
	return web.StageBadge{Number: n, Name: d.Name, KeepsCancelReason: d.KeepsCancelReason}
}

var flashes = map[string]string{
	"placed":       "Order placed.",
	"lines":        "Lines saved.",
	"ship":         "Order shipped.",
	"deliver":      "Order marked delivered.",
	"cancel":       "Order cancelled.",
	"delete":       "Order deleted.",
	"unchanged":    "Nothing to change.",
	"accepted":     "Accepted — it will be applied shortly.",
	"reset":        "Data reset: every order is gone, in every stage, and the workshop controls are back to their defaults.",
	"reset-seeded": "Data reset, and fresh orders seeded: the read side catches up from the change log.",
}

// doneFor is the flash of a command that succeeded: what it did, or, when
// it was only queued (stage 3's async command bus), that it was accepted.
func doneFor(action string, ack order.Ack) string {
	if ack.Accepted {
		return "accepted"
	}
	return action
}

func (s *Server) ordersPage(c *fiber.Ctx) error {
	n, st := s.stage(c)
	q := order.SummaryQuery{Status: order.Status(c.Query("status")), Q: c.Query("q"), After: c.Query("after")}
	vm := web.OrdersList{Q: q.Q, Status: string(q.Status), Statuses: statusOptions(q.Status), HighlightID: c.Query("placed")}
	page, err := st.OrderSummaries(c.UserContext(), q)
	if err != nil {
		if order.ErrorCode(err) != order.EINVALID {
			return err
		}
		// A hand-edited URL: show the first page of everything instead.
		vm.Status, vm.Statuses, q = "", statusOptions(""), order.SummaryQuery{Q: q.Q}
		if page, err = st.OrderSummaries(c.UserContext(), q); err != nil {
			return err
		}
	}
	for _, o := range page.Orders {
		vm.Rows = append(vm.Rows, summaryRow(o))
	}
	s.freshenList(c.UserContext(), st, &vm, q, c.Query("placed"), urlVersion(c.Query("v")))
	vm.Source = sourceText(page.Source, n, 0)
	link := func(after string) string {
		v := url.Values{}
		if q.Status != "" {
			v.Set("status", string(q.Status))
		}
		if q.Q != "" {
			v.Set("q", q.Q)
		}
		if after != "" {
			v.Set("after", after)
		}
		if len(v) == 0 {
			return "/orders"
		}
		return "/orders?" + v.Encode()
	}
	if page.Next != "" {
		vm.NextURL = link(page.Next)
	}
	if q.After != "" {
		vm.FirstURL = link("")
	}
	if c.Get("HX-Target") == "orders-results" && c.Get("HX-History-Restore-Request") != "true" {
		return s.render(c, http.StatusOK, web.OrdersResults(vm))
	}
	return s.render(c, http.StatusOK, web.OrdersPage(s.chrome(c, "Orders", "orders"), vm))
}

func (s *Server) newOrderPage(c *fiber.Ctx) error {
	f := web.OrderForm{ID: order.NewID().String(), Action: "/orders", Lines: []web.LineInput{{}}, CancelURL: "/orders"}
	return s.render(c, http.StatusOK, web.NewOrderPage(s.chrome(c, "New order", "new"), f))
}

func (s *Server) lineFragment(c *fiber.Ctx) error {
	return s.render(c, http.StatusOK, web.LineFields(web.LineInput{}))
}

func (s *Server) placeOrder(c *fiber.Ctx) error {
	_, st := s.stage(c)
	f := parseOrderForm(c)
	f.view.Action, f.view.CancelURL = "/orders", "/orders"
	id, idErr := order.ParseID(f.view.ID)
	if idErr != nil {
		// The form always carries an ID; without one, make a fresh one so
		// the next submit can succeed.
		f.view.ID = order.NewID().String()
		f.view.FormError = "This form lost its order ID. Check the order and submit it again."
		return s.formError(c, f, false)
	}
	cmd := order.PlaceOrder{ID: id, Customer: f.view.Customer, Address: f.view.Address, Lines: f.lines}
	if len(f.errors) > 0 {
		// Check the rest too, so that every message shows at once.
		if _, _, err := order.Place(cmd, timeZero); err != nil {
			f.addDomainErrors(err)
		}
		return s.formError(c, f, false)
	}
	ack, err := st.PlaceOrder(c.UserContext(), cmd)
	if err != nil {
		if code := order.ErrorCode(err); code != order.EINVALID && code != order.ECONFLICT {
			return err
		}
		f.view.FormError = f.addDomainErrors(err)
		if order.ErrorCode(err) == order.ECONFLICT {
			f.view.ID = order.NewID().String()
			f.view.FormError = "An order with this ID exists with other content. Submit again to place this one as a new order."
		}
		return s.formError(c, f, false)
	}
	s.writes.record(ack.ID, ackVersion(ack), placedOrder(cmd, time.Now()))
	s.writes.recordAck(ack.ID, ack)
	return c.Redirect("/orders?done="+doneFor("placed", ack)+"&placed="+ack.ID.String()+"&v="+strconv.Itoa(ackVersion(ack)), http.StatusSeeOther)
}

// formError re-renders the order form with its messages, keeping the input.
func (s *Server) formError(c *fiber.Ctx, f orderForm, edit bool) error {
	f.view.Errors = f.errors
	if f.view.FormError == "" && len(f.errors) > 0 {
		f.view.FormError = "Some fields need your attention."
	}
	c.Set("HX-Push-Url", "false")
	if edit {
		return s.render(c, http.StatusUnprocessableEntity, web.EditLinesPage(s.chrome(c, "Change lines", "orders"), f.view))
	}
	return s.render(c, http.StatusUnprocessableEntity, web.NewOrderPage(s.chrome(c, "New order", "new"), f.view))
}

func (s *Server) loadDetail(c *fiber.Ctx) (order.Detail, error) {
	_, st := s.stage(c)
	id, err := httpapi.ParseIDParam(c.Params("id"))
	if err != nil {
		return order.Detail{}, err
	}
	return st.OrderDetail(c.UserContext(), id)
}

func (s *Server) orderPage(c *fiber.Ctx) error {
	d, err := s.loadDetail(c)
	n, _ := s.stage(c)
	if order.ErrorCode(err) == order.ENOTFOUND {
		// Placed here a moment ago, and not on the read side yet?
		if id, perr := order.ParseID(c.Params("id")); perr == nil {
			if v, ok := s.pendingDetail(id, n); ok {
				return s.render(c, http.StatusOK, web.OrderDetailPage(s.chrome(c, "Order "+shortID(id), "orders"), v))
			}
		}
	}
	if err != nil {
		return err
	}
	v := detailView(d, n)
	s.freshenDetail(&v, d, urlVersion(c.Query("v")), c.Query("done") == "accepted")
	return s.render(c, http.StatusOK, web.OrderDetailPage(s.chrome(c, "Order "+shortID(d.ID), "orders"), v))
}

func (s *Server) editLinesPage(c *fiber.Ctx) error {
	d, err := s.loadDetail(c)
	if err != nil {
		return err
	}
	if !order.Allowed(d.Status).ChangeLines {
		return s.showConflict(c, d, "The lines of an order that is "+string(d.Status)+" cannot change.")
	}
	f := web.OrderForm{
		ID: d.ID.String(), Action: orderURL(d.ID) + "/lines", Customer: d.Customer, Address: d.Address,
		EditLinesOnly: true, ExpectedVersion: d.Version, Lines: linesInput(d.Lines), CancelURL: orderURL(d.ID),
	}
	return s.render(c, http.StatusOK, web.EditLinesPage(s.chrome(c, "Change lines", "orders"), f))
}

func (s *Server) changeLines(c *fiber.Ctx) error {
	_, st := s.stage(c)
	id, err := httpapi.ParseIDParam(c.Params("id"))
	if err != nil {
		return err
	}
	f := parseOrderForm(c)
	expected, _ := strconv.Atoi(c.FormValue("expected_version"))
	d, err := st.OrderDetail(c.UserContext(), id)
	if err != nil {
		return err
	}
	f.view.ID, f.view.Action, f.view.CancelURL = id.String(), orderURL(id)+"/lines", orderURL(id)
	f.view.Customer, f.view.Address, f.view.EditLinesOnly, f.view.ExpectedVersion = d.Customer, d.Address, true, expected
	if len(f.errors) > 0 {
		if _, err := order.CheckLines(f.lines); err != nil {
			f.addDomainErrors(err)
		}
		return s.formError(c, f, true)
	}
	ack, err := st.ChangeOrderLines(c.UserContext(), order.ChangeOrderLines{ID: id, Lines: f.lines, ExpectedVersion: expected})
	switch order.ErrorCode(err) {
	case "":
		s.writes.recordStatus(id, ackVersion(ack), order.Placed)
		s.writes.recordAck(id, ack)
		return c.Redirect(orderURL(id)+"?done="+doneFor("lines", ack)+"&v="+strconv.Itoa(ackVersion(ack)), http.StatusSeeOther)
	case order.EINVALID:
		f.view.FormError = f.addDomainErrors(err)
		return s.formError(c, f, true)
	case order.ECONFLICT:
		return s.conflict(c, id, err)
	}
	return err
}

func (s *Server) orderAction(c *fiber.Ctx) error {
	_, st := s.stage(c)
	id, err := httpapi.ParseIDParam(c.Params("id"))
	if err != nil {
		return err
	}
	expected, _ := strconv.Atoi(c.FormValue("expected_version"))
	ctx := c.UserContext()
	action := c.Params("action")
	var ack order.Ack
	switch action {
	case "ship":
		ack, err = st.ShipOrder(ctx, order.ShipOrder{ID: id, ExpectedVersion: expected})
	case "deliver":
		ack, err = st.DeliverOrder(ctx, order.DeliverOrder{ID: id, ExpectedVersion: expected})
	case "cancel":
		ack, err = st.CancelOrder(ctx, order.CancelOrder{ID: id, Reason: c.FormValue("reason"), ExpectedVersion: expected})
	case "delete":
		ack, err = st.DeleteOrder(ctx, order.DeleteOrder{ID: id, ExpectedVersion: expected})
	}
	switch order.ErrorCode(err) {
	case "":
		if action == "delete" {
			s.writes.recordDeleted(id, ackVersion(ack))
			return c.Redirect("/orders?done="+doneFor("delete", ack), http.StatusSeeOther)
		}
		s.writes.recordStatus(id, ackVersion(ack), actionStatus[action])
		s.writes.recordAck(id, ack)
		return c.Redirect(orderURL(id)+"?done="+doneFor(action, ack)+"&v="+strconv.Itoa(ackVersion(ack)), http.StatusSeeOther)
	case order.ECONFLICT, order.EINVALID:
		return s.conflict(c, id, err)
	}
	return err
}

// actionStatus is the status an order action leaves the order in; a
// deleted order has none.
var actionStatus = map[string]order.Status{"ship": order.Shipped, "deliver": order.Delivered, "cancel": order.Cancelled}

// conflict shows the order as it is now, with what went wrong.
func (s *Server) conflict(c *fiber.Ctx, id order.ID, cause error) error {
	_, st := s.stage(c)
	d, err := st.OrderDetail(c.UserContext(), id)
	if err != nil {
		return err
	}
	msg := order.ErrorMessage(cause)
	var de *order.Error
	if errors.As(cause, &de) && strings.HasPrefix(de.Message, "order changed meanwhile") {
		msg = "This order changed meanwhile; here is its current state."
	} else if fe := order.FieldErrors(cause); len(fe) > 0 {
		msg = fe[0].Field + " " + fe[0].Message
	}
	return s.showConflict(c, d, msg)
}

func (s *Server) showConflict(c *fiber.Ctx, d order.Detail, msg string) error {
	n, _ := s.stage(c)
	v := detailView(d, n)
	v.Notice = msg
	c.Set("HX-Push-Url", orderURL(d.ID))
	return s.render(c, http.StatusConflict, web.OrderDetailPage(s.chrome(c, "Order "+shortID(d.ID), "orders"), v))
}

func (s *Server) dashboardPage(c *fiber.Ctx) error {
	n, st := s.stage(c)
	d, err := st.Dashboard(c.UserContext())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, web.DashboardPage(s.chrome(c, "Dashboard", "dashboard"), dashboardView(d, n)))
}

func (s *Server) switchStage(c *fiber.Ctx) error {
	n, err := strconv.Atoi(c.FormValue("stage"))
	if err != nil {
		return fiber.NewError(http.StatusUnprocessableEntity, "choose a stage")
	}
	next := switchBack(c)
	j, err := s.beginSwitch(c.UserContext(), n, next, "stage switcher")
	switch {
	case err == nil && j != nil:
		// Entering runs in the background, with a page that follows it
		// (rebuild.go).
		return c.Redirect("/rebuild?job="+strconv.Itoa(j.id), http.StatusSeeOther)
	case err == nil:
		return c.Redirect(next, http.StatusSeeOther)
	case order.ErrorCode(err) == order.ECONFLICT:
		return fiber.NewError(http.StatusConflict, "A stage switch is already running; switch again when it is done.")
	case order.ErrorCode(err) == order.EINVALID:
		return fiber.NewError(http.StatusUnprocessableEntity, "There is no stage "+strconv.Itoa(n)+" on this server.")
	}
	return fiber.NewError(http.StatusUnprocessableEntity, err.Error())
}
