module verigate/go-mbaps-client

go 1.22

require github.com/simonvetter/modbus v1.6.4

require github.com/goburrow/serial v0.1.0 // indirect
