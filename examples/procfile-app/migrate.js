// The `release` hook: runs once per release before it goes live.
console.log("migrations applied");
