package stage3

import "github.com/staircase/staircase/internal/order"

// NotifyChanges has stage 3 call changed with an order's ID each time its
// projector applies an event of the order, or its command bus records a
// rejected command on it, so that live pages wait to be told instead of
// asking the read side again and again (the BFF's ChangeNotifier). A later
// call replaces changed. It is told in the process that runs the
// projector; changed must return at once.
func (s *Stage) NotifyChanges(changed func(order.ID)) {
	s.changed.Store(&changed)
}

// tell passes an order that changed on to the function NotifyChanges set.
func (s *Stage) tell(id order.ID) {
	if f := s.changed.Load(); f != nil {
		(*f)(id)
	}
}
