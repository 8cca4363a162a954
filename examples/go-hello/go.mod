module example.com/fleet/go-hello

go 1.22
