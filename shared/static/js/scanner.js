// Camera scanning of QR codes and barcodes (hang tags, student IDs, pass QR codes).
//
// <button type="button" data-scanner="input-id" [data-scanner-continuous]>Scan with camera</button>
// opens the device's rear camera under the button and reads codes with the vendored ZXing
// (static/vendor/zxing). On a result the target input gets the text, `input` and
// `scanner:result` (detail: {text}) are dispatched on it, and its form is submitted.
// The same text is ignored for 3 s, so one tag held in front of the camera counts once.
// Without `data-scanner-continuous` the camera stops after the first result.
(function () {
  "use strict";

  var REPEAT_MS = 3000;
  var RESTART_MS = 300;
  // A camera that has ended, or whose video has not moved or whose frames have not reached
  // the reader for this long, is opened again: a phone under load, or one whose camera was
  // taken by another app, can fail to start or stall the video without telling anyone.
  var STALL_MS = 5000;
  // Each time a stalled camera is opened again it is given twice as long (up to this,
  // and back to STALL_MS once a code is read): a device too slow or too busy to start
  // the camera within STALL_MS must not be cut off at the same point forever.
  var STALL_MAX_MS = 60000;

  // What ZXing reports for a frame without a readable code: keep scanning.
  function isNoCodeYet(error) {
    var ZXing = window.ZXing;
    return (
      error instanceof ZXing.NotFoundException ||
      error instanceof ZXing.ChecksumException ||
      error instanceof ZXing.FormatException
    );
  }

  // Only the codes passline meets: QR (hang tags, passes) and the 1D barcodes of student
  // ID cards. Fewer formats make each frame much cheaper to read on a slow phone.
  function formatHints() {
    var ZXing = window.ZXing;
    var hints = new Map();
    hints.set(ZXing.DecodeHintType.POSSIBLE_FORMATS, [
      ZXing.BarcodeFormat.QR_CODE,
      ZXing.BarcodeFormat.CODE_128,
      ZXing.BarcodeFormat.CODE_39,
      ZXing.BarcodeFormat.CODABAR,
      ZXing.BarcodeFormat.ITF,
      ZXing.BarcodeFormat.EAN_13
    ]);
    return hints;
  }

  function Scanner(button) {
    this.button = button;
    this.input = document.getElementById(button.getAttribute("data-scanner"));
    this.continuous = button.hasAttribute("data-scanner-continuous");
    this.idleLabel = button.textContent;
    this.reader = null;
    this.video = null;
    this.status = null;
    this.lastText = null;
    this.lastAt = 0;
    this.watchdog = null;
    // When the camera was granted, and the last signs of life since: a frame reached the
    // reader, the video moved.
    this.grantedAt = Infinity;
    this.lastFrameAt = 0;
    this.lastMovedAt = 0;
    this.lastVideoTime = -1;
    this.stallMs = STALL_MS;
  }

  Scanner.prototype.say = function (text) {
    if (!this.status) {
      this.status = document.createElement("p");
      this.status.className = "scanner-status";
      this.status.setAttribute("role", "status");
      this.button.insertAdjacentElement("afterend", this.status);
    }
    this.status.textContent = text;
  };

  Scanner.prototype.start = function () {
    var self = this;
    if (!window.ZXing || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      self.say(window.passlineText("scanner.unavailable"));
      return;
    }
    self.video = document.createElement("video");
    self.video.className = "scanner-video";
    self.video.setAttribute("playsinline", "");
    // The property, not the attribute: on an element made by script only `muted = true`
    // mutes it, and a muted video may always play without a fresh tap.
    self.video.muted = true;
    self.button.insertAdjacentElement("afterend", self.video);
    self.button.textContent = window.passlineText("scanner.stop");
    self.button.setAttribute("aria-pressed", "true");
    self.say(window.passlineText("scanner.point"));
    self.open();
    self.watchdog = window.setInterval(function () {
      self.checkStalled();
    }, 1000);
  };

  Scanner.prototype.checkStalled = function () {
    if (!this.reader || !this.video || this.grantedAt === Infinity) {
      return; // not scanning, or still waiting for the camera (a permission prompt)
    }
    var now = Date.now();
    if (this.video.currentTime !== this.lastVideoTime) {
      this.lastVideoTime = this.video.currentTime;
      this.lastMovedAt = now;
    }
    // Stalled when the camera has ended (taken by another app, unplugged), or the reader
    // has had no frame, or the video has not moved.
    var stream = this.video.srcObject;
    var ended = stream && stream.getVideoTracks().every(function (track) {
      return track.readyState === "ended";
    });
    var lastSign = Math.min(this.lastFrameAt, Math.max(this.lastMovedAt, this.grantedAt));
    if (ended) {
      this.open();
    } else if (now - lastSign > this.stallMs) {
      this.stallMs = Math.min(this.stallMs * 2, STALL_MAX_MS);
      this.open();
    }
  };

  // Open the camera into the video and read every frame until stopped. The watchdog counts
  // from the moment the camera is granted, so a permission prompt is never asked twice.
  Scanner.prototype.open = function () {
    var self = this;
    if (self.reader) {
      self.reader.reset();
    }
    var reader = new window.ZXing.BrowserMultiFormatReader(formatHints(), 250);
    self.reader = reader;
    self.grantedAt = Infinity;
    function onDecode(result, error) {
      if (self.reader !== reader) {
        return;
      }
      self.lastFrameAt = Date.now();
      if (result) {
        self.found(result.getText());
      } else if (error && !isNoCodeYet(error)) {
        // ZXing ends its scan loop on any other error, such as a frame that was not
        // ready on a slow phone: start the loop again while this scan is still on.
        window.setTimeout(function () {
          if (self.reader === reader && self.video) {
            reader.decodeContinuously(self.video, onDecode);
          }
        }, RESTART_MS);
      }
    }
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" } })
      .then(function (stream) {
        if (self.reader !== reader) {
          // Stopped or opened again while the camera was starting: let this one go.
          stream.getTracks().forEach(function (track) { track.stop(); });
          return;
        }
        self.grantedAt = Date.now();
        self.lastFrameAt = self.grantedAt;
        // A video that fails to start is the watchdog's to open again, not a refusal.
        reader.decodeFromStream(stream, self.video, onDecode).catch(function () {});
      }, function () {
        // No camera, or no permission for one: say so and stop.
        if (self.reader === reader) {
          self.stop();
          self.say(window.passlineText("scanner.failed"));
        }
      });
  };

  Scanner.prototype.found = function (text) {
    var now = Date.now();
    if (!text || (text === this.lastText && now - this.lastAt < REPEAT_MS)) {
      return;
    }
    this.lastText = text;
    this.lastAt = now;
    this.stallMs = STALL_MS;
    if (!this.continuous) {
      this.stop();
    }
    if (!this.input) {
      return;
    }
    this.input.value = text;
    this.input.dispatchEvent(new Event("input", { bubbles: true }));
    this.input.dispatchEvent(new CustomEvent("scanner:result", { bubbles: true, detail: { text: text } }));
    if (this.input.form) {
      this.input.form.requestSubmit();
    }
  };

  Scanner.prototype.stop = function () {
    window.clearInterval(this.watchdog);
    this.watchdog = null;
    if (this.reader) {
      this.reader.reset();
      this.reader = null;
    }
    if (this.video) {
      this.video.remove();
      this.video = null;
    }
    if (this.status) {
      this.status.remove();
      this.status = null;
    }
    this.button.textContent = this.idleLabel;
    this.button.setAttribute("aria-pressed", "false");
  };

  var scanners = new WeakMap();

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-scanner]");
    if (!button) {
      return;
    }
    var scanner = scanners.get(button);
    if (!scanner) {
      scanner = new Scanner(button);
      scanners.set(button, scanner);
    }
    if (scanner.reader) {
      scanner.stop();
    } else {
      scanner.start();
    }
  });

  // Release the camera when the page is hidden (a tablet put to sleep, a tab switched).
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "hidden") {
      return;
    }
    document.querySelectorAll("[data-scanner][aria-pressed='true']").forEach(function (button) {
      var scanner = scanners.get(button);
      if (scanner) {
        scanner.stop();
      }
    });
  });
})();
