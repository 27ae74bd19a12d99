package projection

// SetReconcileBatch sets how many orders Reconcile reads at a time and
// returns a function that restores it.
func SetReconcileBatch(n int) (restore func()) {
	old := reconcileBatch
	reconcileBatch = n
	return func() { reconcileBatch = old }
}
