# alixsec: build, test, run and flash the firmware.
# `make run` and `make test` are all a new machine needs (Debian, root for
# the package installs; Go from /usr/local/go).

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

BOARD  ?= alix
BOARDS := alix,wrap,qemu
OUT    ?= out
DEV    ?=
FORCE  ?=
GO     ?= go
# VERSION overrides the firmware version (default: git describe), e.g. to
# build "another version" to upgrade to.
VERSION ?=

.PHONY: all deps testdeps image images update upgrade-images run test check unit imagetest noloss bench fuzz flash clean

all: images

## deps: install missing Debian packages (as root), or say which are missing
deps:
	@bash scripts/deps.sh

## image: build $(OUT)/$(BOARD).img (BOARD=alix|wrap|qemu); PRESEED=HOST.tar
## (an alixca bundle) puts that host's config and certificates on the card
PRESEED ?=
image: deps
	$(GO) run ./image -board $(BOARD) -o $(OUT)/$(BOARD).img -outdir $(OUT) $(if $(PRESEED),-preseed $(PRESEED))

## images: build the images of every board (one kernel, one initramfs)
images: deps
	$(GO) run ./image -board $(BOARDS) -outdir $(OUT) $(if $(VERSION),-version $(VERSION))

## update: write the signed update file $(OUT)/$(BOARD).upd (and the image
## beside it); the signing key pair is made on first use in
## ~/.cache/alixsec/update-key (ALIXSEC_UPDATE_KEYS overrides), outside git
update: deps
	$(GO) run ./image -board $(BOARD) -o $(OUT)/$(BOARD).img -outdir $(OUT) $(if $(VERSION),-version $(VERSION))
	@echo "install: ssh BOARD request system upgrade - < $(OUT)/$(BOARD).upd (or request system upgrade http://HOST/$(BOARD).upd)"

## upgrade-images: the QEMU update files the upgrade tests install: another
## version, and two deliberately broken firmwares (init exits, init hangs)
upgrade-images: deps
	$(GO) run ./image -board qemu -o $(OUT)/upgrade/qemu-next.img -outdir $(OUT)/upgrade -version $$(git describe --tags --always --dirty 2>/dev/null || echo dev)-next
	$(GO) run ./image -board qemu -o $(OUT)/upgrade/qemu-initexits.img -outdir $(OUT)/upgrade -version broken-initexits -variant init-exits
	$(GO) run ./image -board qemu -o $(OUT)/upgrade/qemu-hangs.img -outdir $(OUT)/upgrade -version broken-hangs -variant hangs

## run: build the ALIX image and boot it in QEMU with the serial console on
## this terminal (Ctrl-A X quits QEMU)
run: image
	qemu-system-i386 -cpu pentium -m 64 \
		-drive file=$(OUT)/$(BOARD).img,format=raw,if=ide \
		-netdev user,id=lan,restrict=on -device e1000,netdev=lan \
		-display none -serial mon:stdio -no-reboot

## test: formatting, vet, unit tests with the race detector (with the
## strongSwan interop tests), then the built images: kernel config, busybox
## disassembly, QEMU boot through the bootloader, the console CLI, power
## cuts, CF writes, and IPsec between QEMU boards and against charon
test: deps testdeps check unit images upgrade-images imagetest

testdeps:
	@bash scripts/interop/deps.sh

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

imagetest:
	ALIXSEC_OUT=$(abspath $(OUT)) $(GO) test -p 1 -count=1 -v -timeout 60m ./scripts/imagetest/ ./scripts/ipsectest/ ./scripts/pkitest/ ./scripts/noloss/

## noloss: the no-loss proof on two QEMU boards (10 ms pings through rekeys,
## restarts and SIGKILLs of ikesvc, reboots, 300 commits); about 18 minutes
noloss: deps testdeps images
	ALIXSEC_NOLOSS=full ALIXSEC_OUT=$(abspath $(OUT)) $(GO) test -p 1 -count=1 -v -timeout 60m ./scripts/noloss/

## bench: sizes, boot time, memory and CF writes of the firmware in QEMU;
## IKE handshakes/s of ikesvc vs charon and instructions per handshake (386)
bench: deps images upgrade-images
	$(GO) run ./scripts/bench -out $(OUT)
	$(GO) run ./scripts/ikebench

## fuzz: run every fuzz target for FUZZTIME (default 30s) each
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

## flash: write $(OUT)/$(BOARD).img to DEV=/dev/sdX, read back and compare
flash: image
	@if [ -z "$(DEV)" ]; then echo "flash: set DEV=/dev/sdX (the CF card)"; exit 1; fi
	$(GO) run ./scripts/flash -image $(OUT)/$(BOARD).img -dev $(DEV) $(if $(FORCE),-force)

clean:
	rm -rf $(OUT)
